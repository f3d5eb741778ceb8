// Image resizing and channel plumbing: nearest 2x upsample, bilinear resize (PyTorch
// align_corners=False semantics), channel concat and slice. GPU forward/backward vs the
// float64 references, the reference backward vs central finite differences of the
// reference forward, and accumulation into prefilled gradients.
#include "harness.h"
#include "vkdream/nn/concat.h"
#include "vkdream/nn/resize.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

// L = sum(forward(x) * g) for the finite differences; `fwd` runs the reference forward.
typedef struct fd_ctx {
    void (*fwd)(struct fd_ctx* f);
    const double* g;
    double* out;
    size_t n_out;
    double *x1, *x2;   // inputs (x2 only for concat)
    uint32_t d[8];     // dims, meaning per op
} fd_ctx;

static double loss(void* user) {
    fd_ctx* f = user;
    f->fwd(f);
    return tu_dot(f->out, f->g, f->n_out);
}

// Reference gradient vs central differences, at every index up to `count`, then a sample.
static void fd_check(tu_ctx* t, const char* what, fd_ctx* f, double* x, size_t n, const double* grad, size_t count) {
    tu_fd_check(t, what, loss, f, x, n, grad, count, 1e-5, 1e-6, 1e-9);
}

// Uploads `pre`, returns the buffer; `expect` = pre + grad.
static tu_buf prefilled(tu_ctx* t, size_t n, double** pre) {
    *pre = tu_alloc_d(n);
    tu_fill_normal(t, *pre, n, 1.0);
    return tu_upload_d(t, *pre, n);
}

// Rounds to float so that pure copies can be compared exactly.
static void to_float(double* x, size_t n) {
    for (size_t i = 0; i < n; i++) x[i] = (float)x[i];
}

static void add_into(double* dst, const double* a, const double* b, size_t n) {
    for (size_t i = 0; i < n; i++) dst[i] = a[i] + b[i];
}

// ---------------------------------------------------------------------------------------
// Resizes: nearest 2x (OH = 2H, OW = 2W) or bilinear to OH x OW.

static void fwd_nearest(fd_ctx* f) { vkd_ref_upsample_nearest2x_forward(f->out, f->x1, f->d[0], f->d[1], f->d[2], f->d[3]); }
static void fwd_bilinear(fd_ctx* f) {
    vkd_ref_resize_bilinear_forward(f->out, f->x1, f->d[0], f->d[1], f->d[2], f->d[3], f->d[4], f->d[5]);
}

static void resize_case(tu_ctx* t, bool nearest, uint32_t B, uint32_t C, uint32_t H, uint32_t W, uint32_t OH,
                        uint32_t OW) {
    if (nearest) OH = 2 * H, OW = 2 * W;
    tu_case(t, "%s B=%u C=%u %ux%u -> %ux%u", nearest ? "nearest2x" : "bilinear", B, C, H, W, OH, OW);
    size_t n_in = (size_t)B * C * H * W, n_out = (size_t)B * C * OH * OW;
    double *x = tu_alloc_d(n_in), *g = tu_alloc_d(n_out), *out = tu_alloc_d(n_out), *dx = tu_alloc_d(n_in);
    tu_fill_normal(t, x, n_in, 1.0);
    tu_fill_normal(t, g, n_out, 1.0);
    fd_ctx f = {nearest ? fwd_nearest : fwd_bilinear, g, out, n_out, x, NULL, {B, C, H, W, OH, OW}};
    f.fwd(&f);
    if (nearest) vkd_ref_upsample_nearest2x_backward(dx, g, B, C, H, W);
    else vkd_ref_resize_bilinear_backward(dx, g, B, C, H, W, OH, OW);

    double* pre;
    tu_buf gx = tu_upload_d(t, x, n_in), gg = tu_upload_d(t, g, n_out), gout = tu_alloc(t, n_out);
    tu_buf gdx = prefilled(t, n_in, &pre);
    if (nearest) {
        vkd_upsample_nearest2x_forward(t->s, gout.addr, gx.addr, B, C, H, W);
        vkd_upsample_nearest2x_backward(t->s, gdx.addr, gg.addr, B, C, H, W);
    } else {
        vkd_resize_bilinear_forward(t->s, gout.addr, gx.addr, B, C, H, W, OH, OW);
        vkd_resize_bilinear_backward(t->s, gdx.addr, gg.addr, B, C, H, W, OH, OW);
    }
    tu_run(t);
    tu_expect_buf(t, "out", gout, out, 1e-5, 1e-6);
    double* want = tu_alloc_d(n_in);
    add_into(want, pre, dx, n_in);
    tu_expect_buf(t, "dinp (accumulated)", gdx, want, 1e-5, 1e-5);

    // Each output's taps sum to 1, so a constant image stays constant (exactly, for
    // nearest) and the gradient's total is the cotangent's total.
    double total_g = 0, total_dx = 0;
    for (size_t i = 0; i < n_out; i++) total_g += g[i];
    for (size_t i = 0; i < n_in; i++) total_dx += dx[i];
    tu_check(t, fabs(total_g - total_dx) <= 1e-9 * (1 + fabs(total_g)), "sum(dinp) = sum(dout): %.12g vs %.12g",
             total_dx, total_g);

    fd_check(t, "dinp", &f, x, n_in, dx, 200);
    free(want);
    free(pre);
    tu_free(t, &gx);
    tu_free(t, &gg);
    tu_free(t, &gout);
    tu_free(t, &gdx);
    free(x);
    free(g);
    free(out);
    free(dx);
}

// ---------------------------------------------------------------------------------------
// Concat (B, C1, H, W) + (B, C2, H, W) and slice (B, C, H, W)[:, c0 : c0 + count].

static void fwd_concat(fd_ctx* f) {
    vkd_ref_concat_forward(f->out, f->x1, f->x2, f->d[0], f->d[1], f->d[2], f->d[3], f->d[4]);
}

static void concat_case(tu_ctx* t, uint32_t B, uint32_t C1, uint32_t C2, uint32_t H, uint32_t W) {
    tu_case(t, "concat B=%u C1=%u C2=%u %ux%u", B, C1, C2, H, W);
    size_t n1 = (size_t)B * C1 * H * W, n2 = (size_t)B * C2 * H * W, n = n1 + n2;
    double *x1 = tu_alloc_d(n1), *x2 = tu_alloc_d(n2), *g = tu_alloc_d(n), *out = tu_alloc_d(n);
    double *d1 = tu_alloc_d(n1), *d2 = tu_alloc_d(n2);
    tu_fill_normal(t, x1, n1, 1.0);
    tu_fill_normal(t, x2, n2, 1.0);
    tu_fill_normal(t, g, n, 1.0);
    to_float(x1, n1);
    to_float(x2, n2);
    fd_ctx f = {fwd_concat, g, out, n, x1, x2, {B, C1, C2, H, W}};
    f.fwd(&f);
    vkd_ref_concat_backward(d1, d2, g, B, C1, C2, H, W);

    double *pre1, *pre2, *pre3;
    tu_buf gx1 = tu_upload_d(t, x1, n1), gx2 = tu_upload_d(t, x2, n2), gg = tu_upload_d(t, g, n);
    tu_buf gout = tu_alloc(t, n), gd1 = prefilled(t, n1, &pre1), gd2 = prefilled(t, n2, &pre2);
    tu_buf only2 = prefilled(t, n2, &pre3);
    vkd_concat_forward(t->s, gout.addr, gx1.addr, gx2.addr, B, C1, C2, H, W);
    vkd_concat_backward(t->s, gd1.addr, gd2.addr, gg.addr, B, C1, C2, H, W);
    vkd_concat_backward(t->s, 0, only2.addr, gg.addr, B, C1, C2, H, W);
    tu_run(t);
    tu_expect_buf(t, "out", gout, out, 0, 0);
    double *w1 = tu_alloc_d(n1), *w2 = tu_alloc_d(n2), *w3 = tu_alloc_d(n2);
    add_into(w1, pre1, d1, n1);
    add_into(w2, pre2, d2, n2);
    add_into(w3, pre3, d2, n2);
    tu_expect_buf(t, "dinp1 (accumulated)", gd1, w1, 1e-6, 1e-6);
    tu_expect_buf(t, "dinp2 (accumulated)", gd2, w2, 1e-6, 1e-6);
    tu_expect_buf(t, "dinp2 alone (dinp1 = 0)", only2, w3, 1e-6, 1e-6);
    fd_check(t, "dinp1", &f, x1, n1, d1, 100);
    fd_check(t, "dinp2", &f, x2, n2, d2, 100);

    tu_buf* bufs[] = {&gx1, &gx2, &gg, &gout, &gd1, &gd2, &only2};
    for (size_t i = 0; i < sizeof bufs / sizeof bufs[0]; i++) tu_free(t, bufs[i]);
    double* hs[] = {x1, x2, g, out, d1, d2, pre1, pre2, pre3, w1, w2, w3};
    for (size_t i = 0; i < sizeof hs / sizeof hs[0]; i++) free(hs[i]);
}

static void fwd_slice(fd_ctx* f) {
    vkd_ref_slice_forward(f->out, f->x1, f->d[0], f->d[1], f->d[2], f->d[3], f->d[4], f->d[5]);
}

static void slice_case(tu_ctx* t, uint32_t B, uint32_t C, uint32_t H, uint32_t W, uint32_t c0, uint32_t count) {
    tu_case(t, "slice B=%u C=%u %ux%u [%u, %u)", B, C, H, W, c0, c0 + count);
    size_t n_in = (size_t)B * C * H * W, n_out = (size_t)B * count * H * W;
    double *x = tu_alloc_d(n_in), *g = tu_alloc_d(n_out), *out = tu_alloc_d(n_out), *dx = tu_alloc_d(n_in);
    tu_fill_normal(t, x, n_in, 1.0);
    tu_fill_normal(t, g, n_out, 1.0);
    to_float(x, n_in);
    fd_ctx f = {fwd_slice, g, out, n_out, x, NULL, {B, C, H, W, c0, count}};
    f.fwd(&f);
    vkd_ref_slice_backward(dx, g, B, C, H, W, c0, count);

    double* pre;
    tu_buf gx = tu_upload_d(t, x, n_in), gg = tu_upload_d(t, g, n_out), gout = tu_alloc(t, n_out);
    tu_buf gdx = prefilled(t, n_in, &pre);
    vkd_slice_forward(t->s, gout.addr, gx.addr, B, C, H, W, c0, count);
    vkd_slice_backward(t->s, gdx.addr, gg.addr, B, C, H, W, c0, count);
    tu_run(t);
    tu_expect_buf(t, "out", gout, out, 0, 0);
    double* want = tu_alloc_d(n_in);
    add_into(want, pre, dx, n_in);
    tu_expect_buf(t, "dinp (accumulated; channels outside the slice untouched)", gdx, want, 1e-6, 1e-6);
    fd_check(t, "dinp", &f, x, n_in, dx, 100);

    // concat(slice(x, 0, k), slice(x, k, C - k)) == x: the UNet's split/merge round trip.
    if (count < C && c0 == 0) {
        tu_buf a = tu_alloc(t, (size_t)B * count * H * W), b = tu_alloc(t, (size_t)B * (C - count) * H * W);
        tu_buf back = tu_alloc(t, n_in);
        vkd_slice_forward(t->s, a.addr, gx.addr, B, C, H, W, 0, count);
        vkd_slice_forward(t->s, b.addr, gx.addr, B, C, H, W, count, C - count);
        vkd_concat_forward(t->s, back.addr, a.addr, b.addr, B, count, C - count, H, W);
        tu_run(t);
        tu_expect_buf(t, "concat(slice, slice) round trip", back, x, 0, 0);
        tu_free(t, &a);
        tu_free(t, &b);
        tu_free(t, &back);
    }

    free(want);
    free(pre);
    tu_free(t, &gx);
    tu_free(t, &gg);
    tu_free(t, &gout);
    tu_free(t, &gdx);
    free(x);
    free(g);
    free(out);
    free(dx);
}

// Values PyTorch gives: F.interpolate(x, size, mode='bilinear', align_corners=False).
static void bilinear_known(tu_ctx* t) {
    tu_case(t, "bilinear known values");
    static const float row[4] = {0, 1, 2, 3}, col[3] = {0, 1, 2};
    static const double up[8] = {0, 0.25, 0.75, 1.25, 1.75, 2.25, 2.75, 3};  // (1, 4) -> (1, 8)
    static const double down[2] = {0.5, 2.5};                                // (1, 4) -> (1, 2)
    static const double tall[5] = {0, 0.4, 1, 1.6, 2};                       // (3, 1) -> (5, 1)
    tu_buf r = tu_upload_f(t, row, 4), c = tu_upload_f(t, col, 3);
    tu_buf o1 = tu_alloc(t, 8), o2 = tu_alloc(t, 2), o3 = tu_alloc(t, 5);
    vkd_resize_bilinear_forward(t->s, o1.addr, r.addr, 1, 1, 1, 4, 1, 8);
    vkd_resize_bilinear_forward(t->s, o2.addr, r.addr, 1, 1, 1, 4, 1, 2);
    vkd_resize_bilinear_forward(t->s, o3.addr, c.addr, 1, 1, 3, 1, 5, 1);
    tu_run(t);
    tu_expect_buf(t, "4 -> 8", o1, up, 0, 1e-6);
    tu_expect_buf(t, "4 -> 2", o2, down, 0, 1e-6);
    tu_expect_buf(t, "3 -> 5 (rows)", o3, tall, 0, 1e-6);
    tu_buf* bufs[] = {&r, &c, &o1, &o2, &o3};
    for (size_t i = 0; i < sizeof bufs / sizeof bufs[0]; i++) tu_free(t, bufs[i]);
}

static void expect_invalid(tu_ctx* t, const char* what, const char* needle) {
    vkd_error e = {0};
    vkd_status st = vkd_stream_submit(t->s, &e);
    tu_check(t, st == VKD_ERR_INVALID && strstr(e.msg, needle), "%s is rejected: %s", what, e.msg);
}

static void bad_args(tu_ctx* t) {
    tu_case(t, "bad arguments");
    tu_buf a = tu_zeros(t, 64), b = tu_zeros(t, 64);
    vkd_slice_forward(t->s, a.addr, b.addr, 1, 4, 2, 2, 3, 2);
    expect_invalid(t, "a slice past the last channel", "slice_forward");
    vkd_resize_bilinear_forward(t->s, a.addr, b.addr, 1, 1, 4, 4, 0, 4);
    expect_invalid(t, "an empty output", "resize_bilinear_forward");
    vkd_upsample_nearest2x_backward(t->s, a.addr, 0, 1, 1, 2, 2);
    expect_invalid(t, "a missing dout", "upsample_nearest2x_backward");
    tu_free(t, &a);
    tu_free(t, &b);
}

void test_resize(tu_ctx* t) {
    resize_case(t, true, 1, 1, 1, 1, 0, 0);
    resize_case(t, true, 2, 3, 7, 9, 0, 0);
    resize_case(t, true, 1, 5, 33, 17, 0, 0);
    resize_case(t, true, 2, 2, 64, 70, 0, 0);  // rows wider than one workgroup
    // Bilinear: 2x up and down, non-integer ratios per axis, identity, 1-pixel images,
    // and factors beyond 8 both ways.
    bilinear_known(t);
    resize_case(t, false, 2, 3, 4, 4, 8, 8);
    resize_case(t, false, 2, 3, 8, 8, 4, 4);
    resize_case(t, false, 2, 3, 7, 9, 12, 5);
    resize_case(t, false, 1, 2, 5, 5, 3, 11);
    resize_case(t, false, 1, 2, 6, 6, 6, 6);
    resize_case(t, false, 1, 3, 1, 1, 3, 4);
    resize_case(t, false, 1, 3, 9, 7, 1, 1);
    resize_case(t, false, 1, 2, 3, 3, 29, 25);
    resize_case(t, false, 1, 2, 40, 36, 3, 5);
    resize_case(t, false, 1, 1, 13, 70, 33, 129);
    concat_case(t, 2, 3, 5, 7, 9);
    concat_case(t, 1, 1, 1, 1, 1);
    concat_case(t, 2, 16, 8, 17, 33);
    slice_case(t, 2, 8, 7, 9, 3, 4);
    slice_case(t, 2, 8, 7, 9, 0, 8);
    slice_case(t, 1, 5, 3, 3, 0, 2);
    slice_case(t, 2, 6, 1, 1, 5, 1);
    bad_args(t);
}
