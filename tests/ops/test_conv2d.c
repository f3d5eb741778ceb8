// conv2d: GPU forward/backward vs the float64 reference, the reference backward vs
// central finite differences of the reference forward, accumulation into prefilled
// gradients, optional gradients, split-K workspaces, every tile configuration, fp16 weights.
#include "harness.h"
#include "vkdream/nn/conv2d.h"

#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

typedef struct shape {
    uint32_t B, C, H, W, OC, KH, KW;
    vkd_conv2d_desc d;
    bool bias;
} shape;

// Closure for the finite differences: L = sum(conv2d(inp, weight, bias) * g) in float64.
typedef struct fd_ctx {
    const shape* s;
    double *inp, *weight, *bias, *g, *out;
    size_t n_out;
} fd_ctx;

static double loss(void* user) {
    fd_ctx* f = user;
    const shape* s = f->s;
    vkd_ref_conv2d_forward(f->out, f->inp, f->weight, f->bias, s->B, s->C, s->H, s->W, s->OC, s->KH, s->KW, &s->d);
    return tu_dot(f->out, f->g, f->n_out);
}

// Reference gradient vs central differences at `count` indices of x (all when count >= n).
static void fd_check(tu_ctx* t, const char* what, fd_ctx* f, double* x, size_t n, const double* grad, size_t count) {
    tu_fd_check(t, what, loss, f, x, n, grad, count, 1e-5, 1e-6, 1e-9);
}

static void run_case(tu_ctx* t, const char* label, shape s, size_t fd_count) {
    uint32_t OH, OW;
    vkd_conv2d_out_size(s.H, s.W, s.KH, s.KW, &s.d, &OH, &OW);
    tu_case(t, "%s B=%u C=%u %ux%u OC=%u k=%ux%u s=%u,%u pad=%u,%u,%u,%u%s tiles=%u", label, s.B, s.C, s.H, s.W, s.OC,
            s.KH, s.KW, s.d.stride_y, s.d.stride_x, s.d.pad_top, s.d.pad_bottom, s.d.pad_left, s.d.pad_right,
            s.bias ? "" : " nobias", s.d.tile_config);
    size_t n_in = (size_t)s.B * s.C * s.H * s.W, n_w = (size_t)s.OC * s.C * s.KH * s.KW, n_b = s.OC;
    size_t n_out = (size_t)s.B * s.OC * OH * OW;
    double *inp = tu_alloc_d(n_in), *weight = tu_alloc_d(n_w), *bias = tu_alloc_d(n_b), *g = tu_alloc_d(n_out);
    tu_fill_normal(t, inp, n_in, 1.0);
    tu_fill_normal(t, weight, n_w, 1.0 / sqrt((double)s.C * s.KH * s.KW));
    tu_fill_normal(t, bias, n_b, 1.0);
    tu_fill_normal(t, g, n_out, 1.0);
    double *pre_in = tu_alloc_d(n_in), *pre_w = tu_alloc_d(n_w), *pre_b = tu_alloc_d(n_b);
    tu_fill_normal(t, pre_in, n_in, 1.0);
    tu_fill_normal(t, pre_w, n_w, 1.0);
    tu_fill_normal(t, pre_b, n_b, 1.0);

    // Forward.
    double* out = tu_alloc_d(n_out);
    vkd_ref_conv2d_forward(out, inp, weight, s.bias ? bias : NULL, s.B, s.C, s.H, s.W, s.OC, s.KH, s.KW, &s.d);
    tu_buf g_inp = tu_upload_d(t, inp, n_in), g_w = tu_upload_d(t, weight, n_w), g_b = tu_upload_d(t, bias, n_b);
    tu_buf g_out = tu_alloc(t, n_out), g_g = tu_upload_d(t, g, n_out);
    vkd_conv2d_forward(t->s, g_out.addr, g_inp.addr, g_w.addr, s.bias ? g_b.addr : 0, s.B, s.C, s.H, s.W, s.OC, s.KH,
                       s.KW, &s.d);
    tu_run(t);
    tu_expect_buf(t, "out", g_out, out, 1e-5, 1e-6);

    // Backward into prefilled gradients: the op must add.
    double *d_in = tu_alloc_d(n_in), *d_w = tu_alloc_d(n_w), *d_b = tu_alloc_d(n_b);
    vkd_ref_conv2d_backward(d_in, d_w, d_b, g, inp, weight, s.B, s.C, s.H, s.W, s.OC, s.KH, s.KW, &s.d);
    tu_buf gd_in = tu_upload_d(t, pre_in, n_in), gd_w = tu_upload_d(t, pre_w, n_w), gd_b = tu_upload_d(t, pre_b, n_b);
    vkd_conv2d_backward(t->s, gd_in.addr, gd_w.addr, gd_b.addr, g_g.addr, g_inp.addr, g_w.addr, s.B, s.C, s.H, s.W,
                        s.OC, s.KH, s.KW, &s.d);
    tu_run(t);
    double *e_in = tu_alloc_d(n_in), *e_w = tu_alloc_d(n_w), *e_b = tu_alloc_d(n_b);
    for (size_t i = 0; i < n_in; i++) e_in[i] = pre_in[i] + d_in[i];
    for (size_t i = 0; i < n_w; i++) e_w[i] = pre_w[i] + d_w[i];
    for (size_t i = 0; i < n_b; i++) e_b[i] = pre_b[i] + d_b[i];
    tu_expect_buf(t, "dinp (accumulated)", gd_in, e_in, 1e-5, 1e-5);
    tu_expect_buf(t, "dweight (accumulated)", gd_w, e_w, 1e-5, 1e-5);
    tu_expect_buf(t, "dbias (accumulated)", gd_b, e_b, 1e-5, 1e-5);

    // Each gradient alone (the others 0): nothing else may be touched or needed.
    tu_buf z_in = tu_zeros(t, n_in), z_w = tu_zeros(t, n_w), z_b = tu_zeros(t, n_b);
    vkd_conv2d_backward(t->s, z_in.addr, 0, 0, g_g.addr, 0, g_w.addr, s.B, s.C, s.H, s.W, s.OC, s.KH, s.KW, &s.d);
    vkd_conv2d_backward(t->s, 0, z_w.addr, 0, g_g.addr, g_inp.addr, 0, s.B, s.C, s.H, s.W, s.OC, s.KH, s.KW, &s.d);
    vkd_conv2d_backward(t->s, 0, 0, z_b.addr, g_g.addr, 0, 0, s.B, s.C, s.H, s.W, s.OC, s.KH, s.KW, &s.d);
    tu_run(t);
    tu_expect_buf(t, "dinp alone", z_in, d_in, 1e-5, 1e-6);
    tu_expect_buf(t, "dweight alone", z_w, d_w, 1e-5, 1e-6);
    tu_expect_buf(t, "dbias alone", z_b, d_b, 1e-5, 1e-6);

    // The split-K path with the workspace the op asks for (when it wants one here).
    uint64_t ws = vkd_conv2d_backward_workspace_bytes(t->gpu, s.B, s.C, s.H, s.W, s.OC, s.KH, s.KW, &s.d);
    if (ws) {
        tu_buf wsb = tu_alloc(t, ws / sizeof(float));
        tu_buf w2 = tu_upload_d(t, pre_w, n_w);
        vkd_conv2d_desc d2 = s.d;
        d2.workspace = wsb.addr;
        d2.workspace_bytes = ws;
        vkd_conv2d_backward(t->s, 0, w2.addr, 0, g_g.addr, g_inp.addr, 0, s.B, s.C, s.H, s.W, s.OC, s.KH, s.KW, &d2);
        tu_run(t);
        char what[64];
        snprintf(what, sizeof what, "dweight split-K (%llu B workspace)", (unsigned long long)ws);
        tu_expect_buf(t, what, w2, e_w, 1e-5, 1e-5);
        tu_free(t, &w2);
        tu_free(t, &wsb);
    }

    // Reference backward vs finite differences of the reference forward.
    if (fd_count) {
        fd_ctx f = {&s, inp, weight, s.bias ? bias : NULL, g, tu_alloc_d(n_out), n_out};
        fd_check(t, "dinp", &f, inp, n_in, d_in, fd_count);
        fd_check(t, "dweight", &f, weight, n_w, d_w, fd_count);
        if (s.bias) fd_check(t, "dbias", &f, bias, n_b, d_b, fd_count);
        free(f.out);
    }

    tu_buf* bufs[] = {&g_inp, &g_w, &g_b, &g_out, &g_g, &gd_in, &gd_w, &gd_b, &z_in, &z_w, &z_b};
    for (size_t i = 0; i < sizeof bufs / sizeof bufs[0]; i++) tu_free(t, bufs[i]);
    double* hs[] = {inp, weight, bias, g, pre_in, pre_w, pre_b, out, d_in, d_w, d_b, e_in, e_w, e_b};
    for (size_t i = 0; i < sizeof hs / sizeof hs[0]; i++) free(hs[i]);
}

// An fp16 weight (a frozen parameter): forward and the input gradient against the reference
// on the same rounded weights; its own gradient is refused.
static void half_weight_case(tu_ctx* t, const char* label, shape s) {
    uint32_t OH, OW;
    vkd_conv2d_out_size(s.H, s.W, s.KH, s.KW, &s.d, &OH, &OW);
    tu_case(t, "fp16 weight %s B=%u C=%u %ux%u OC=%u k=%ux%u s=%u,%u tiles=%u", label, s.B, s.C, s.H, s.W, s.OC, s.KH,
            s.KW, s.d.stride_y, s.d.stride_x, s.d.tile_config);
    s.d.weight_f16 = true;
    size_t n_in = (size_t)s.B * s.C * s.H * s.W, n_w = (size_t)s.OC * s.C * s.KH * s.KW, n_b = s.OC;
    size_t n_out = (size_t)s.B * s.OC * OH * OW;
    double *inp = tu_alloc_d(n_in), *weight = tu_alloc_d(n_w), *bias = tu_alloc_d(n_b), *g = tu_alloc_d(n_out);
    double *pre_in = tu_alloc_d(n_in), *out = tu_alloc_d(n_out), *d_in = tu_alloc_d(n_in);
    tu_fill_normal(t, inp, n_in, 1.0);
    tu_fill_normal(t, weight, n_w, 1.0 / sqrt((double)s.C * s.KH * s.KW));
    tu_fill_normal(t, bias, n_b, 1.0);
    tu_fill_normal(t, g, n_out, 1.0);
    tu_fill_normal(t, pre_in, n_in, 1.0);
    tu_buf g_w = tu_upload_half(t, weight, n_w);  // rounds `weight` to what the device holds
    tu_buf g_inp = tu_upload_d(t, inp, n_in), g_b = tu_upload_d(t, bias, n_b), g_g = tu_upload_d(t, g, n_out);
    tu_buf g_out = tu_alloc(t, n_out), gd_in = tu_upload_d(t, pre_in, n_in);
    vkd_ref_conv2d_forward(out, inp, weight, s.bias ? bias : NULL, s.B, s.C, s.H, s.W, s.OC, s.KH, s.KW, &s.d);
    memcpy(d_in, pre_in, n_in * sizeof *d_in);
    vkd_ref_conv2d_backward(d_in, NULL, NULL, g, inp, weight, s.B, s.C, s.H, s.W, s.OC, s.KH, s.KW, &s.d);
    vkd_conv2d_forward(t->s, g_out.addr, g_inp.addr, g_w.addr, s.bias ? g_b.addr : 0, s.B, s.C, s.H, s.W, s.OC, s.KH,
                       s.KW, &s.d);
    vkd_conv2d_backward(t->s, gd_in.addr, 0, 0, g_g.addr, 0, g_w.addr, s.B, s.C, s.H, s.W, s.OC, s.KH, s.KW, &s.d);
    tu_run(t);
    tu_expect_buf(t, "out", g_out, out, 1e-5, 1e-6);
    tu_expect_buf(t, "dinp (accumulated)", gd_in, d_in, 1e-5, 1e-5);
    tu_buf z_w = tu_zeros(t, n_w);
    vkd_conv2d_backward(t->s, 0, z_w.addr, 0, g_g.addr, g_inp.addr, g_w.addr, s.B, s.C, s.H, s.W, s.OC, s.KH, s.KW,
                        &s.d);
    vkd_error e = {0};
    vkd_status st = vkd_stream_submit(t->s, &e);
    tu_check(t, st == VKD_ERR_INVALID && strstr(e.msg, "fp16"), "dweight of an fp16 weight is rejected: %s", e.msg);
    tu_buf* bufs[] = {&g_w, &g_inp, &g_b, &g_g, &g_out, &gd_in, &z_w};
    for (size_t i = 0; i < sizeof bufs / sizeof bufs[0]; i++) tu_free(t, bufs[i]);
    double* hs[] = {inp, weight, bias, g, pre_in, out, d_in};
    for (size_t i = 0; i < sizeof hs / sizeof hs[0]; i++) free(hs[i]);
}

// Recording-time argument checks: the stream reports the first error at submit.
static void bad_args(tu_ctx* t) {
    tu_case(t, "bad arguments");
    tu_buf a = tu_zeros(t, 64);
    vkd_error e = {0};
    vkd_conv2d_forward(t->s, a.addr, a.addr, a.addr, 0, 1, 1, 2, 2, 1, 3, 3, &(vkd_conv2d_desc){0});
    vkd_status st = vkd_stream_submit(t->s, &e);
    tu_check(t, st == VKD_ERR_INVALID && strstr(e.msg, "conv2d_forward") && strstr(e.msg, "larger"),
             "kernel larger than the input is rejected: %s", e.msg);
    vkd_conv2d_backward(t->s, a.addr, 0, 0, a.addr, 0, 0, 1, 1, 4, 4, 1, 3, 3, NULL);
    st = vkd_stream_submit(t->s, &e);
    tu_check(t, st == VKD_ERR_INVALID && strstr(e.msg, "weight"), "dinp without weight is rejected: %s", e.msg);
    tu_free(t, &a);
}

void test_conv2d(tu_ctx* t) {
    const vkd_conv2d_desc p1 = {.pad_top = 1, .pad_bottom = 1, .pad_left = 1, .pad_right = 1};
    const vkd_conv2d_desc s2p1 = {.stride_y = 2, .stride_x = 2, .pad_top = 1, .pad_bottom = 1, .pad_left = 1,
                                  .pad_right = 1};
    const vkd_conv2d_desc vae_down = {.stride_y = 2, .stride_x = 2, .pad_bottom = 1, .pad_right = 1};
    const vkd_conv2d_desc s2 = {.stride_y = 2, .stride_x = 2};
    const vkd_conv2d_desc odd = {.stride_y = 2, .stride_x = 1, .pad_top = 2, .pad_bottom = 1, .pad_right = 2};
    const size_t ALL = SIZE_MAX;

    run_case(t, "1x1", (shape){2, 5, 7, 9, 7, 1, 1, {0}, true}, ALL);
    run_case(t, "3x3 pad 1", (shape){2, 3, 7, 9, 5, 3, 3, p1, true}, ALL);
    run_case(t, "3x3 stride 2 pad 1", (shape){2, 3, 7, 9, 5, 3, 3, s2p1, true}, ALL);
    run_case(t, "VAE downsampler pad (0,1,0,1)", (shape){2, 3, 7, 9, 5, 3, 3, vae_down, true}, ALL);
    run_case(t, "VAE downsampler even", (shape){1, 4, 8, 8, 4, 3, 3, vae_down, false}, ALL);
    run_case(t, "1x1 stride 2", (shape){2, 3, 5, 6, 2, 1, 1, s2, true}, ALL);
    run_case(t, "5x3 general", (shape){2, 3, 9, 7, 5, 5, 3, odd, true}, ALL);
    run_case(t, "kernel = image", (shape){1, 2, 3, 3, 3, 3, 3, {0}, true}, ALL);
    run_case(t, "1x1 image", (shape){1, 1, 1, 1, 1, 3, 3, p1, true}, ALL);
    run_case(t, "K not a tile multiple", (shape){2, 33, 6, 5, 19, 3, 3, p1, true}, 40);
    run_case(t, "two M tiles", (shape){1, 7, 5, 5, 70, 3, 3, p1, true}, 40);
    run_case(t, "1x1 wide", (shape){2, 40, 9, 9, 24, 1, 1, {0}, false}, 40);
    if (!t->quick) {
        run_case(t, "larger", (shape){2, 32, 16, 16, 48, 3, 3, p1, true}, 24);
        vkd_conv2d_desc big_s2 = s2p1;
        run_case(t, "larger stride 2", (shape){2, 32, 17, 15, 48, 3, 3, big_s2, true}, 24);
        // Many output pixels per filter: the weight gradient takes the split-K path here.
        run_case(t, "long K", (shape){2, 8, 40, 40, 8, 3, 3, p1, true}, 16);
    }
    // Every built-in tile configuration, whatever this device would choose.
    for (uint32_t cfg = 1; cfg <= VKD_CONV2D_TILE_CONFIGS; cfg++) {
        vkd_conv2d_desc a = p1, b = vae_down;
        a.tile_config = b.tile_config = cfg;
        run_case(t, "config", (shape){2, 19, 11, 13, 21, 3, 3, a, true}, 0);
        run_case(t, "config", (shape){2, 5, 9, 7, 3, 3, 3, b, true}, 0);
        run_case(t, "config 1x1", (shape){1, 70, 9, 10, 66, 1, 1, (vkd_conv2d_desc){.tile_config = cfg}, false}, 0);
    }
    // fp16 weights: odd element counts (the last weight shares its 4-byte pair with padding),
    // strides, the VAE's asymmetric padding, every tile configuration.
    half_weight_case(t, "3x3 pad 1", (shape){2, 3, 7, 9, 5, 3, 3, p1, true});
    half_weight_case(t, "3x3 stride 2 pad 1", (shape){2, 3, 7, 9, 5, 3, 3, s2p1, true});
    half_weight_case(t, "VAE downsampler", (shape){2, 3, 7, 9, 5, 3, 3, vae_down, false});
    half_weight_case(t, "1x1", (shape){2, 5, 7, 9, 7, 1, 1, {0}, true});
    half_weight_case(t, "5x3 general", (shape){2, 3, 9, 7, 5, 5, 3, odd, true});
    for (uint32_t cfg = 1; cfg <= VKD_CONV2D_TILE_CONFIGS; cfg++) {
        vkd_conv2d_desc a = p1;
        a.tile_config = cfg;
        half_weight_case(t, "config", (shape){2, 19, 11, 13, 21, 3, 3, a, true});
    }
    bad_args(t);
}
