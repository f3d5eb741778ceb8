// ResnetBlock2D, Downsample2D, Upsample2D (src/prior/resnet.c, sample.c):
// - golden: blocks of the sd-tiny UNet fed with the fixture's own activations
//   (act.conv_in + act.time_embedding -> act.down_blocks.0.resnets.0; act.down_blocks.0 ->
//   act.down_blocks.1 (32 -> 64, conv_shortcut); the downsampler; the whole up_blocks.0:
//   two resnets over skip concatenations and the upsampler);
// - backward: central finite differences of the GPU forward (fp32) on tiny shapes, for the
//   input, the time embedding and several parameters; accumulation (+=); frozen sets.
#include "harness.h"
#include "vkdream/nn/concat.h"
#include "vkdream/prior/blocks.h"
#include "vkdream/safetensors.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

// ---------------------------------------------------------------------------
// Helpers

static bool upload_doubles(tu_ctx* t, const vkd_buffer* b, const double* x, size_t n) {
    float* f = malloc((n ? n : 1) * sizeof *f);
    for (size_t i = 0; i < n; i++) f[i] = (float)x[i];
    vkd_error e = {0};
    bool ok = vkd_buffer_upload(t->gpu, b, 0, f, n * sizeof *f, &e) == VKD_OK;
    free(f);
    if (!ok) tu_check(t, false, "upload: %s", e.msg);
    return ok;
}

// The pass rule of PRIOR.md for activations: max|d| <= 1e-4 * max(1, max|ref|).
static void expect_act(tu_ctx* t, const char* what, tu_buf b, const double* ref) {
    double m = 0;
    for (size_t i = 0; i < b.n; i++) m = fmax(m, fabs(ref[i]));
    tu_expect_buf(t, what, b, ref, 0, 1e-4 * fmax(1.0, m));
}

static bool load_params(tu_ctx* t, vkd_params* p, const char* rel, bool with_grad) {
    vkd_safetensors* w = tu_fixture_open(t, rel);
    if (!w) return false;
    vkd_error e = {0};
    bool ok = vkd_params_alloc(t->gpu, p, with_grad, &e) == VKD_OK && vkd_params_load(p, w, NULL, &e) == VKD_OK;
    vkd_safetensors_close(w);
    return tu_check(t, ok, "load %u parameters from %s%s%s", p->count, rel, ok ? "" : ": ", ok ? "" : e.msg);
}

// ---------------------------------------------------------------------------
// Golden: sd-tiny UNet blocks.

static void golden_resnet(tu_ctx* t, const char* prefix, const char* in_name, const char* out_name, uint32_t ci,
                          uint32_t co, uint32_t H) {
    tu_case(t, "golden unet %s (%u -> %u, %ux%u, temb 128)", prefix, ci, co, H, H);
    vkd_safetensors* st = tu_fixture_open(t, "unet/case_forward.safetensors");
    if (!st) return;
    vkd_params p = {0};
    vkd_resnet rn;
    vkd_error e = {0};
    vkd_status s0 = vkd_resnet_declare(&rn, &p, prefix,
                                       &(vkd_resnet_desc){.in_channels = ci, .out_channels = co, .temb_channels = 128},
                                       &e);
    tu_check(t, s0 == VKD_OK, "declare%s%s", s0 ? ": " : "", s0 ? e.msg : "");
    size_t B = 2, nx = B * ci * H * H, no = B * co * H * H;
    double* x = tu_fixture_read(t, st, in_name, nx);
    double* temb = tu_fixture_read(t, st, "act.time_embedding", B * 128);
    double* ref = tu_fixture_read(t, st, out_name, no);
    if (!s0 && x && temb && ref && load_params(t, &p, "unet/diffusion_pytorch_model.safetensors", false)) {
        vkd_arena a = {.gpu = t->gpu};
        tu_buf gx = tu_upload_d(t, x, nx), gt = tu_upload_d(t, temb, B * 128), go = tu_alloc(t, no);
        vkd_resnet_forward(&rn, &p, t->s, &a, go.addr, gx.addr, gt.addr, (uint32_t)B, H, H, NULL);
        tu_run(t);
        expect_act(t, out_name, go, ref);
        tu_check(t, a.live_bytes == 0, "forward without saved releases its arena memory (%zu bytes live)",
                 a.live_bytes);
        tu_free(t, &gx);
        tu_free(t, &gt);
        tu_free(t, &go);
        vkd_arena_free(&a);
    }
    free(x);
    free(temb);
    free(ref);
    vkd_params_free(&p);
    vkd_safetensors_close(st);
}

static void golden_downsample(tu_ctx* t) {
    tu_case(t, "golden unet down_blocks.0.downsamplers.0 (32, 8x8 -> 4x4)");
    vkd_safetensors* st = tu_fixture_open(t, "unet/case_forward.safetensors");
    if (!st) return;
    vkd_params p = {0};
    vkd_downsample dn;
    vkd_error e = {0};
    vkd_status s0 = vkd_downsample_declare(&dn, &p, "down_blocks.0.downsamplers.0.",
                                           &(vkd_sample_desc){.in_channels = 32}, &e);
    tu_check(t, s0 == VKD_OK, "declare%s%s", s0 ? ": " : "", s0 ? e.msg : "");
    uint32_t oh = 0, ow = 0;
    vkd_downsample_out_size(&dn, 8, 8, &oh, &ow);
    tu_check(t, oh == 4 && ow == 4, "out size %ux%u", oh, ow);
    double* x = tu_fixture_read(t, st, "act.down_blocks.0.attentions.0", 2 * 32 * 64);
    double* ref = tu_fixture_read(t, st, "act.down_blocks.0", 2 * 32 * 16);
    if (!s0 && x && ref && load_params(t, &p, "unet/diffusion_pytorch_model.safetensors", false)) {
        vkd_arena a = {.gpu = t->gpu};
        tu_buf gx = tu_upload_d(t, x, 2 * 32 * 64), go = tu_alloc(t, 2 * 32 * 16);
        vkd_downsample_forward(&dn, &p, t->s, &a, go.addr, gx.addr, 2, 8, 8, NULL);
        tu_run(t);
        expect_act(t, "act.down_blocks.0", go, ref);
        tu_free(t, &gx);
        tu_free(t, &go);
        vkd_arena_free(&a);
    }
    free(x);
    free(ref);
    vkd_params_free(&p);
    vkd_safetensors_close(st);
}

// up_blocks.0 (UpBlock2D, 64 channels at 4x4): skips are popped from the end of the down
// path's outputs: resnets.0 sees cat(mid_block, down_blocks.1) (128 -> 64), resnets.1 sees
// cat(resnets.0, down_blocks.0) (96 -> 64), then the upsampler (4x4 -> 8x8).
static void golden_up_block(tu_ctx* t) {
    tu_case(t, "golden unet up_blocks.0 (2 resnets over skip concatenations + upsampler)");
    vkd_safetensors* st = tu_fixture_open(t, "unet/case_forward.safetensors");
    if (!st) return;
    vkd_params p = {0};
    vkd_resnet r0, r1;
    vkd_upsample up;
    vkd_error e = {0};
    vkd_status s0 = vkd_resnet_declare(
        &r0, &p, "up_blocks.0.resnets.0.", &(vkd_resnet_desc){.in_channels = 128, .out_channels = 64, .temb_channels = 128},
        &e);
    if (!s0)
        s0 = vkd_resnet_declare(&r1, &p, "up_blocks.0.resnets.1.",
                                &(vkd_resnet_desc){.in_channels = 96, .out_channels = 64, .temb_channels = 128}, &e);
    if (!s0) s0 = vkd_upsample_declare(&up, &p, "up_blocks.0.upsamplers.0.", &(vkd_sample_desc){.in_channels = 64}, &e);
    tu_check(t, s0 == VKD_OK, "declare%s%s", s0 ? ": " : "", s0 ? e.msg : "");
    double* mid = tu_fixture_read(t, st, "act.mid_block", 2 * 64 * 16);
    double* d1 = tu_fixture_read(t, st, "act.down_blocks.1", 2 * 64 * 16);
    double* d0 = tu_fixture_read(t, st, "act.down_blocks.0", 2 * 32 * 16);
    double* temb = tu_fixture_read(t, st, "act.time_embedding", 2 * 128);
    double* ref = tu_fixture_read(t, st, "act.up_blocks.0", 2 * 64 * 64);
    if (!s0 && mid && d1 && d0 && temb && ref && load_params(t, &p, "unet/diffusion_pytorch_model.safetensors", false)) {
        vkd_arena a = {.gpu = t->gpu};
        tu_buf gmid = tu_upload_d(t, mid, 2 * 64 * 16), gd1 = tu_upload_d(t, d1, 2 * 64 * 16);
        tu_buf gd0 = tu_upload_d(t, d0, 2 * 32 * 16), gt = tu_upload_d(t, temb, 2 * 128);
        tu_buf cat0 = tu_alloc(t, 2 * 128 * 16), h0 = tu_alloc(t, 2 * 64 * 16), cat1 = tu_alloc(t, 2 * 96 * 16);
        tu_buf h1 = tu_alloc(t, 2 * 64 * 16), go = tu_alloc(t, 2 * 64 * 64);
        vkd_concat_forward(t->s, cat0.addr, gmid.addr, gd1.addr, 2, 64, 64, 4, 4);
        vkd_resnet_forward(&r0, &p, t->s, &a, h0.addr, cat0.addr, gt.addr, 2, 4, 4, NULL);
        vkd_concat_forward(t->s, cat1.addr, h0.addr, gd0.addr, 2, 64, 32, 4, 4);
        vkd_resnet_forward(&r1, &p, t->s, &a, h1.addr, cat1.addr, gt.addr, 2, 4, 4, NULL);
        vkd_upsample_forward(&up, &p, t->s, &a, go.addr, h1.addr, 2, 4, 4, NULL);
        tu_run(t);
        expect_act(t, "act.up_blocks.0", go, ref);
        tu_buf* bufs[] = {&gmid, &gd1, &gd0, &gt, &cat0, &h0, &cat1, &h1, &go};
        for (size_t i = 0; i < sizeof bufs / sizeof *bufs; i++) tu_free(t, bufs[i]);
        vkd_arena_free(&a);
    }
    free(mid);
    free(d1);
    free(d0);
    free(temb);
    free(ref);
    vkd_params_free(&p);
    vkd_safetensors_close(st);
}

// ---------------------------------------------------------------------------
// Finite differences of the GPU forward on tiny shapes.

enum { K_RESNET, K_DOWN, K_UP };

typedef struct fd_ctx {
    tu_ctx* t;
    int kind;
    vkd_resnet rn;
    vkd_downsample dn;
    vkd_upsample up;
    vkd_params p;
    vkd_arena a;
    uint32_t B, H, W, OH, OW, ci, co, T;
    double *x, *temb, *pm, *g;   // host inputs, parameter mirror (p.total), cotangent
    size_t nx, nt, no;
    tu_buf gx, gt, go, gg;
    bool failed;
} fd_ctx;

static void record_forward(fd_ctx* f, const vkd_params* p, void* saved) {
    vkd_stream* s = f->t->s;
    if (f->kind == K_RESNET)
        vkd_resnet_forward(&f->rn, p, s, &f->a, f->go.addr, f->gx.addr, f->T ? f->gt.addr : 0, f->B, f->H, f->W,
                           saved);
    else if (f->kind == K_DOWN)
        vkd_downsample_forward(&f->dn, p, s, &f->a, f->go.addr, f->gx.addr, f->B, f->H, f->W, saved);
    else
        vkd_upsample_forward(&f->up, p, s, &f->a, f->go.addr, f->gx.addr, f->B, f->H, f->W, saved);
}

// L = sum(out * g) from the GPU forward of the current host inputs and parameters.
static double fd_loss(void* user) {
    fd_ctx* f = user;
    tu_ctx* t = f->t;
    upload_doubles(t, &f->gx.b, f->x, f->nx);
    if (f->nt) upload_doubles(t, &f->gt.b, f->temb, f->nt);
    upload_doubles(t, &f->p.data, f->pm, f->p.total);
    record_forward(f, &f->p, NULL);
    vkd_error e = {0};
    if (vkd_stream_submit(t->s, &e) != VKD_OK && !f->failed) {
        f->failed = true;
        tu_check(t, false, "forward submit: %s", e.msg);
    }
    vkd_arena_reset(&f->a);
    double* out = tu_download_d(t, f->go);
    double l = tu_dot(out, f->g, f->no);
    free(out);
    return l;
}

static void fill_params(fd_ctx* f) {
    for (uint32_t i = 0; i < f->p.count; i++) {
        const vkd_param* q = &f->p.items[i];
        bool norm = strstr(q->name, "norm") != NULL, bias = strstr(q->name, ".bias") != NULL;
        double fan = q->ndim >= 2 ? (double)(q->count / (uint64_t)q->shape[0]) : 1.0;
        for (uint64_t j = 0; j < q->count; j++) {
            double r = tu_normal(f->t);
            f->pm[q->offset + j] = (float)(norm && !bias ? 1.0 + 0.3 * r : bias ? 0.2 * r : r / sqrt(fan));
        }
    }
}

static void fd_check_param(fd_ctx* f, const char* local, const double* grads, size_t count) {
    char name[VKD_PARAM_NAME_MAX + 16];
    const char* prefix = f->kind == K_RESNET ? f->rn.prefix : f->kind == K_DOWN ? f->dn.prefix : f->up.prefix;
    snprintf(name, sizeof name, "%s%s", prefix, local);
    uint32_t i = vkd_params_find(&f->p, name);
    if (!tu_check(f->t, i != UINT32_MAX, "parameter %s declared", name)) return;
    const vkd_param* q = &f->p.items[i];
    tu_fd_check(f->t, name, fd_loss, f, f->pm + q->offset, q->count, grads + q->offset, count, 1e-2, 3e-3, 1e-4);
}

static double* download_grad_all(fd_ctx* f) {
    tu_buf gb = {.b = f->p.grad, .n = f->p.total, .addr = f->p.grad.addr};
    return tu_download_d(f->t, gb);
}

static void fd_case(tu_ctx* t, int kind, uint32_t B, uint32_t ci, uint32_t co, uint32_t T, uint32_t groups, uint32_t H,
                    uint32_t W, float eps, vkd_downsample_pad pad) {
    static const char* kinds[] = {"resnet", "downsample", "upsample"};
    tu_case(t, "fd %s B=%u %u->%u T=%u groups=%u %ux%u eps=%g%s", kinds[kind], B, ci, co, T, groups, H, W,
            (double)eps, kind == K_DOWN ? (pad == VKD_DOWNSAMPLE_PAD_BR ? " pad=(0,1,0,1)" : " pad=1") : "");
    fd_ctx f = {.t = t, .kind = kind, .B = B, .H = H, .W = W, .ci = ci, .co = co, .T = T};
    f.a.gpu = t->gpu;
    f.a.chunk_bytes = 1 << 20;
    vkd_error e = {0};
    vkd_status s0;
    if (kind == K_RESNET) {
        s0 = vkd_resnet_declare(&f.rn, &f.p, "blk.",
                                &(vkd_resnet_desc){.in_channels = ci, .out_channels = co, .temb_channels = T,
                                                   .groups = groups, .eps = eps},
                                &e);
        f.OH = H, f.OW = W;
    } else if (kind == K_DOWN) {
        s0 = vkd_downsample_declare(&f.dn, &f.p, "down.", &(vkd_sample_desc){.in_channels = ci, .out_channels = co, .pad = pad},
                                    &e);
        vkd_downsample_out_size(&f.dn, H, W, &f.OH, &f.OW);
    } else {
        s0 = vkd_upsample_declare(&f.up, &f.p, "up.", &(vkd_sample_desc){.in_channels = ci, .out_channels = co}, &e);
        f.OH = 2 * H, f.OW = 2 * W;
    }
    if (!tu_check(t, s0 == VKD_OK, "declare%s%s", s0 ? ": " : "", s0 ? e.msg : "")) return;
    if (!tu_check(t, vkd_params_alloc(t->gpu, &f.p, true, &e) == VKD_OK, "alloc params")) return;
    f.nx = (size_t)B * ci * H * W;
    f.nt = (size_t)B * T;
    f.no = (size_t)B * co * f.OH * f.OW;
    f.x = tu_alloc_d(f.nx);
    f.temb = tu_alloc_d(f.nt ? f.nt : 1);
    f.pm = tu_alloc_d(f.p.total);
    f.g = tu_alloc_d(f.no);
    // Inputs with an offset and scale per channel, like real activations.
    for (size_t i = 0; i < f.nx; i++) f.x[i] = (float)(0.3 * (double)((i / (H * W)) % 3) + 1.5 * tu_normal(t));
    tu_fill_normal(t, f.temb, f.nt, 1.0);
    tu_round_f32(f.temb, f.nt);
    tu_fill_normal(t, f.g, f.no, 1.0);
    fill_params(&f);
    f.gx = tu_upload_d(t, f.x, f.nx);
    f.gt = tu_upload_d(t, f.temb, f.nt ? f.nt : 1);
    f.go = tu_alloc(t, f.no);
    f.gg = tu_upload_d(t, f.g, f.no);
    upload_doubles(t, &f.p.data, f.pm, f.p.total);

    // Analytic gradients: forward with saved, backward into zeroed buffers, then a second
    // backward into the same buffers must double them (+=).
    tu_buf dx = tu_zeros(t, f.nx), dt = tu_zeros(t, f.nt ? f.nt : 1);
    vkd_params_zero_grad(&f.p, t->s);
    vkd_resnet_saved rs;
    vkd_downsample_saved ds;
    vkd_upsample_saved us;
    void* saved = kind == K_RESNET ? (void*)&rs : kind == K_DOWN ? (void*)&ds : (void*)&us;
    record_forward(&f, &f.p, saved);
    if (kind == K_RESNET)
        vkd_resnet_backward(&f.rn, &f.p, t->s, &f.a, dx.addr, T ? dt.addr : 0, f.gg.addr, &rs);
    else if (kind == K_DOWN)
        vkd_downsample_backward(&f.dn, &f.p, t->s, &f.a, dx.addr, f.gg.addr, &ds);
    else
        vkd_upsample_backward(&f.up, &f.p, t->s, &f.a, dx.addr, f.gg.addr, &us);
    tu_run(t);
    double* gdx = tu_download_d(t, dx);
    double* gdt = tu_download_d(t, dt);
    double* gp = download_grad_all(&f);

    tu_fd_check(t, "dx", fd_loss, &f, f.x, f.nx, gdx, 16, 1e-2, 3e-3, 1e-4);
    if (T) tu_fd_check(t, "dtemb", fd_loss, &f, f.temb, f.nt, gdt, 8, 1e-2, 3e-3, 1e-4);
    if (kind == K_RESNET) {
        fd_check_param(&f, "conv1.weight", gp, 6);
        fd_check_param(&f, "norm1.weight", gp, 4);
        fd_check_param(&f, "norm1.bias", gp, 3);
        fd_check_param(&f, "norm2.weight", gp, 4);
        fd_check_param(&f, "conv2.weight", gp, 6);
        fd_check_param(&f, "conv2.bias", gp, 3);
        if (T) fd_check_param(&f, "time_emb_proj.weight", gp, 6);
        if (T) fd_check_param(&f, "time_emb_proj.bias", gp, 3);
        if (ci != co) fd_check_param(&f, "conv_shortcut.weight", gp, 6);
        if (ci != co) fd_check_param(&f, "conv_shortcut.bias", gp, 3);
    } else {
        fd_check_param(&f, "conv.weight", gp, 8);
        fd_check_param(&f, "conv.bias", gp, 4);
    }
    upload_doubles(t, &f.p.data, f.pm, f.p.total); // fd_loss left the last probe's restore there; same values

    // Accumulation: one more backward into the same buffers.
    record_forward(&f, &f.p, saved);
    if (kind == K_RESNET)
        vkd_resnet_backward(&f.rn, &f.p, t->s, &f.a, dx.addr, T ? dt.addr : 0, f.gg.addr, &rs);
    else if (kind == K_DOWN)
        vkd_downsample_backward(&f.dn, &f.p, t->s, &f.a, dx.addr, f.gg.addr, &ds);
    else
        vkd_upsample_backward(&f.up, &f.p, t->s, &f.a, dx.addr, f.gg.addr, &us);
    tu_run(t);
    vkd_arena_reset(&f.a);
    double* two = tu_alloc_d(f.p.total > f.nx ? f.p.total : f.nx);
    for (size_t i = 0; i < f.nx; i++) two[i] = 2 * gdx[i];
    tu_expect_buf(t, "dx accumulates", dx, two, 1e-6, 1e-7);
    if (T) {
        for (size_t i = 0; i < f.nt; i++) two[i] = 2 * gdt[i];
        tu_expect_buf(t, "dtemb accumulates", dt, two, 1e-6, 1e-7);
    }
    for (size_t i = 0; i < f.p.total; i++) two[i] = 2 * gp[i];
    double* gp2 = download_grad_all(&f);
    tu_check_close(t, "parameter grads accumulate", gp2, two, f.p.total, 1e-6, 1e-7);

    // Frozen set (no gradient buffer): dx alone must be the same, nothing else written.
    vkd_params frozen = f.p;
    frozen.grad = (vkd_buffer){0};
    tu_buf dx2 = tu_zeros(t, f.nx);
    vkd_params_zero_grad(&f.p, t->s);
    record_forward(&f, &frozen, saved);
    if (kind == K_RESNET)
        vkd_resnet_backward(&f.rn, &frozen, t->s, &f.a, dx2.addr, 0, f.gg.addr, &rs);
    else if (kind == K_DOWN)
        vkd_downsample_backward(&f.dn, &frozen, t->s, &f.a, dx2.addr, f.gg.addr, &ds);
    else
        vkd_upsample_backward(&f.up, &frozen, t->s, &f.a, dx2.addr, f.gg.addr, &us);
    tu_run(t);
    vkd_arena_reset(&f.a);
    tu_expect_buf(t, "dx with a frozen set", dx2, gdx, 1e-6, 1e-7);
    double* gp3 = download_grad_all(&f);
    double m = 0;
    for (size_t i = 0; i < f.p.total; i++) m = fmax(m, fabs(gp3[i]));
    tu_check(t, m == 0, "frozen set: no parameter gradient written (max %g)", m);

    free(gp3);
    free(gp2);
    free(two);
    free(gdx);
    free(gdt);
    free(gp);
    tu_buf* bufs[] = {&dx, &dt, &dx2, &f.gx, &f.gt, &f.go, &f.gg};
    for (size_t i = 0; i < sizeof bufs / sizeof *bufs; i++) tu_free(t, bufs[i]);
    free(f.x);
    free(f.temb);
    free(f.pm);
    free(f.g);
    vkd_arena_free(&f.a);
    vkd_params_free(&f.p);
}

static void bad_config(tu_ctx* t) {
    tu_case(t, "bad configs are errors naming the module");
    vkd_params p = {0};
    vkd_resnet rn;
    vkd_error e = {0};
    vkd_status s0 = vkd_resnet_declare(&rn, &p, "mid.resnets.0.", &(vkd_resnet_desc){.in_channels = 48}, &e);
    tu_check(t, s0 == VKD_ERR_INVALID && strstr(e.msg, "mid.resnets.0.") && strstr(e.msg, "48"),
             "groups 32 vs 48 channels: %s", e.msg);
    s0 = vkd_resnet_declare(&rn, &p, "a.", &(vkd_resnet_desc){.in_channels = 32, .out_channels = 64}, &e);
    tu_check(t, s0 == VKD_OK, "declare a.");
    s0 = vkd_resnet_declare(&rn, &p, "a.", &(vkd_resnet_desc){.in_channels = 64, .out_channels = 64}, &e);
    tu_check(t, s0 == VKD_ERR_INVALID && strstr(e.msg, "a.norm1.weight"), "redeclared with other shapes: %s", e.msg);
    vkd_params_free(&p);
}

void test_resnet(tu_ctx* t) {
    golden_resnet(t, "down_blocks.0.resnets.0.", "act.conv_in", "act.down_blocks.0.resnets.0", 32, 32, 8);
    golden_resnet(t, "down_blocks.1.resnets.0.", "act.down_blocks.0", "act.down_blocks.1", 32, 64, 4);
    golden_downsample(t);
    golden_up_block(t);
    fd_case(t, K_RESNET, 2, 4, 6, 5, 2, 3, 5, 1e-5f, 0);
    fd_case(t, K_RESNET, 1, 6, 6, 0, 3, 4, 3, 1e-6f, 0);
    fd_case(t, K_DOWN, 2, 3, 5, 0, 0, 5, 6, 0, VKD_DOWNSAMPLE_PAD1);
    fd_case(t, K_DOWN, 1, 4, 4, 0, 0, 6, 7, 0, VKD_DOWNSAMPLE_PAD_BR);
    fd_case(t, K_UP, 2, 3, 4, 0, 0, 3, 2, 0, 0);
    bad_config(t);
}
