// GroupNorm (B, C, H, W), G groups, optional fused SiLU: G = 1, G = C, the UNet's
// (2, 64, 8x8, G = 32) and a 64x64 image with one channel per group; images of 1, 2 and 3
// pixels; both forward paths (one workgroup per group for small groups, per-channel
// statistics merged for large ones), in place, without affine parameters; and groups
// with mean 1e3 and std 0.1, where E[x^2] - E[x]^2 in float32 would lose every digit of
// the variance. GPU forward, saved statistics and backward against the float64
// reference; accumulation into pre-filled gradients; the reference backward against
// central differences for inp, weight and bias.
#define _POSIX_C_SOURCE 200809L  // setenv, strdup
#include "harness.h"
#include "vkdream/nn/groupnorm.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

// The kernels reduce each item (row, group, channel) with a subgroup or a whole workgroup
// (src/nn/reduce_team.h); the device decides, $VKD_TEAM_SG_MAX overrides. Cases run
// with the device's choice and again with workgroups for every item.


typedef struct gn_shape {
    uint32_t B, C, H, W, G;
} gn_shape;

typedef struct gn_fd {
    const double *x, *w, *b, *g;
    gn_shape sh;
    double eps;
    bool silu;
    double *out, *mean, *rstd;
} gn_fd;

static double gn_loss(void* user) {
    gn_fd* u = user;
    const gn_shape* s = &u->sh;
    vkd_ref_groupnorm_forward(u->out, u->mean, u->rstd, u->x, u->w, u->b, s->B, s->C, s->H, s->W, s->G, u->eps,
                              u->silu);
    return tu_dot(u->out, u->g, (size_t)s->B * s->C * s->H * s->W);
}

static void fd_check(tu_ctx* t, const char* what, gn_fd* u, double* v, size_t n, const double* ana_full, size_t max,
                     double h) {
    size_t m = n < max ? n : max;
    double* num = tu_alloc_d(m);
    double* ana = tu_alloc_d(m);
    for (size_t k = 0; k < m; k++) {
        size_t i = m == n ? k : (k * 7919u + 17) % n;
        tu_fd_grad(gn_loss, u, &v[i], 1, h, &num[k]);
        ana[k] = ana_full[i];
    }
    tu_check_close(t, what, num, ana, m, 1e-6, 1e-9);
    free(num);
    free(ana);
}

typedef struct gn_opts {
    bool silu, no_affine, no_bias, in_place;
    double center, spread;  // inputs ~ center + spread * N(0, 1); spread 0 means 1
    float eps;              // 0 means 1e-5
    size_t fd_max;          // inputs probed by finite differences; 0 means 48
} gn_opts;

static void gn_case(tu_ctx* t, gn_shape sh, gn_opts o) {
    const double spread = o.spread != 0 ? o.spread : 1.0;
    const float eps = o.eps != 0 ? o.eps : 1e-5f;
    const uint32_t B = sh.B, C = sh.C, H = sh.H, W = sh.W, G = sh.G;
    tu_case(t, "groupnorm B=%u C=%u %ux%u G=%u%s%s%s%s mean %g std %g%s", B, C, H, W, G, o.silu ? " silu" : "",
            o.no_affine ? " no affine" : "", o.no_bias ? " no bias" : "", o.in_place ? " in place" : "", o.center,
            spread, tu_team_label());
    const size_t n = (size_t)B * C * H * W, ng = (size_t)B * G;
    double* x = tu_alloc_d(n);
    double* w = tu_alloc_d(C);
    double* b = tu_alloc_d(C);
    double* g = tu_alloc_d(n);
    double* pdx = tu_alloc_d(n);
    double* pdw = tu_alloc_d(C);
    double* pdb = tu_alloc_d(C);
    tu_fill_normal(t, x, n, spread);
    for (size_t i = 0; i < n; i++) x[i] += o.center;
    for (uint32_t c = 0; c < C; c++) w[c] = 1.0 + 0.5 * tu_normal(t), b[c] = 0.5 * tu_normal(t);
    tu_fill_normal(t, g, n, 1.0);
    tu_fill_normal(t, pdx, n, 1.0);
    tu_fill_normal(t, pdw, C, 1.0);
    tu_fill_normal(t, pdb, C, 1.0);
    tu_round_f32(x, n);
    tu_round_f32(w, C);
    tu_round_f32(b, C);
    tu_round_f32(g, n);
    tu_round_f32(pdx, n);
    tu_round_f32(pdw, C);
    tu_round_f32(pdb, C);
    const double* Wt = o.no_affine ? NULL : w;
    const double* Bs = o.no_affine || o.no_bias ? NULL : b;

    uint64_t sb = vkd_groupnorm_backward_scratch_bytes(B, C, G);
    tu_buf gx = tu_upload_d(t, x, n), gw = tu_upload_d(t, w, C), gb = tu_upload_d(t, b, C), gg = tu_upload_d(t, g, n);
    tu_buf gout = o.in_place ? tu_upload_d(t, x, n) : tu_alloc(t, n), gmean = tu_alloc(t, ng), grstd = tu_alloc(t, ng);
    tu_buf gdx = tu_upload_d(t, pdx, n), gdw = tu_upload_d(t, pdw, C), gdb = tu_upload_d(t, pdb, C);
    tu_buf gdx0 = tu_zeros(t, n), gdw1 = tu_zeros(t, C), gdw2 = tu_zeros(t, C), scratch = tu_alloc(t, sb / 4);
    vkd_addr aw = Wt ? gw.addr : 0, ab = Bs ? gb.addr : 0;
    vkd_groupnorm_forward(t->s, gout.addr, gmean.addr, grstd.addr, o.in_place ? gout.addr : gx.addr, aw, ab, B, C, H, W,
                          G, eps, o.silu);
    vkd_groupnorm_backward(t->s, gdx.addr, Wt ? gdw.addr : 0, Bs ? gdb.addr : 0, scratch.addr, gg.addr, gx.addr, aw, ab,
                           gmean.addr, grstd.addr, B, C, H, W, G, o.silu);
    vkd_groupnorm_backward(t->s, gdx0.addr, 0, 0, scratch.addr, gg.addr, gx.addr, aw, ab, gmean.addr, grstd.addr, B, C,
                           H, W, G, o.silu);
    // dweight alone, twice: bit-identical.
    vkd_groupnorm_backward(t->s, 0, gdw1.addr, 0, scratch.addr, gg.addr, gx.addr, aw, ab, gmean.addr, grstd.addr, B, C,
                           H, W, G, o.silu);
    vkd_groupnorm_backward(t->s, 0, gdw2.addr, 0, scratch.addr, gg.addr, gx.addr, aw, ab, gmean.addr, grstd.addr, B, C,
                           H, W, G, o.silu);
    tu_run(t);

    double* out = tu_alloc_d(n);
    double* mean = tu_alloc_d(ng);
    double* rstd = tu_alloc_d(ng);
    vkd_ref_groupnorm_forward(out, mean, rstd, x, Wt, Bs, B, C, H, W, G, (double)eps, o.silu);
    // The saved mean is float32: within half an ulp of |mean| (plus a little summation error).
    double mean_tol = 0.6 * ldexp(1.0, ilogb(fabs(o.center) + 4 * spread) - 23) + 1e-7 * spread;
    tu_expect_buf(t, "mean", gmean, mean, 0, mean_tol);
    tu_expect_buf(t, "rstd", grstd, rstd, 1e-5, 0);
    double* gm = tu_download_d(t, gmean);
    double* gr = tu_download_d(t, grstd);
    // out uses the float32 mean: its rounding shifts a group by up to mean_tol * rstd * |w|
    // (~1e-6 for O(1) data, ~3e-4 at mean 1e3 and std 0.1; SiLU's slope is below 1.1).
    double wmax = 1, rmax = 0;
    if (Wt)
        for (uint32_t c = 0; c < C; c++) wmax = fmax(wmax, fabs(w[c]));
    for (size_t i = 0; i < ng; i++) rmax = fmax(rmax, rstd[i]);
    tu_expect_buf(t, "out", gout, out, 1e-5, 1.1 * mean_tol * rmax * wmax + 1e-6);
    // The same given the GPU's own statistics: tight whatever the magnitude.
    double* out_g = tu_alloc_d(n);
    double* m1 = tu_alloc_d(ng);
    double* r1 = tu_alloc_d(ng);
    {
        // The reference forward over one group with the statistics replaced: run it with
        // the GPU's mean and rstd by normalizing by hand.
        const size_t HW = (size_t)H * W, cg = C / G;
        for (size_t i = 0; i < n; i++) {
            size_t bc = i / HW, c = bc % C, bg = (bc / C) * G + c / cg;
            double y = (x[i] - gm[bg]) * gr[bg] * (Wt ? w[c] : 1.0) + (Bs ? b[c] : 0.0);
            out_g[i] = o.silu ? y / (1.0 + exp(-y)) : y;
        }
    }
    tu_expect_buf(t, "out given the GPU's mean and rstd", gout, out_g, 1e-5, 1e-6);

    // Backward against the reference given the GPU's statistics, accumulated.
    double* dx = tu_alloc_d(n);
    double* dw = tu_alloc_d(C);
    double* db = tu_alloc_d(C);
    vkd_ref_groupnorm_backward(dx, dw, db, g, x, Wt, Bs, gm, gr, B, C, H, W, G, o.silu);
    for (size_t i = 0; i < n; i++) pdx[i] += dx[i];
    // dinp = rstd (dxhat - mean(dxhat) - xhat mean(dxhat xhat)) can cancel far below its
    // terms (exactly to 0 for two values per group without eps), so its float32 error is
    // relative to the terms' size, rstd |dout| |w|: a few ulp of that.
    double gmax = 0;
    for (size_t i = 0; i < n; i++) gmax = fmax(gmax, fabs(g[i]));
    double dx_atol = 4e-7 * rmax * gmax * wmax * (o.silu ? 1.1 : 1.0) + 1e-6;
    tu_expect_buf(t, "dinp", gdx0, dx, 1e-5, dx_atol);
    tu_expect_buf(t, "dinp accumulated", gdx, pdx, 1e-5, dx_atol);
    if (Wt) {
        for (uint32_t c = 0; c < C; c++) pdw[c] += dw[c];
        tu_expect_buf(t, "dweight accumulated", gdw, pdw, 1e-5, 1e-5);
    }
    if (Bs) {
        for (uint32_t c = 0; c < C; c++) pdb[c] += db[c];
        tu_expect_buf(t, "dbias accumulated", gdb, pdb, 1e-5, 1e-5);
    }
    tu_expect_buf(t, "dweight alone", gdw1, dw, 1e-5, 1e-5);
    double* w1 = tu_download_d(t, gdw1);
    double* w2 = tu_download_d(t, gdw2);
    tu_check(t, memcmp(w1, w2, C * sizeof *w1) == 0, "dweight bit-identical across runs");
    free(w1);
    free(w2);

    // Reference backward (its own statistics) vs central differences of the reference forward.
    double* fdx = tu_alloc_d(n);
    double* fdw = tu_alloc_d(C);
    double* fdb = tu_alloc_d(C);
    vkd_ref_groupnorm_backward(fdx, fdw, fdb, g, x, Wt, Bs, mean, rstd, B, C, H, W, G, o.silu);
    double* fo = tu_alloc_d(n);
    gn_fd u = {.x = x, .w = Wt, .b = Bs, .g = g, .sh = sh, .eps = eps, .silu = o.silu, .out = fo, .mean = m1,
               .rstd = r1};
    // |mean| >> std: float64 rounding of ~1e-16 |mean| / std in every xhat; a larger step
    // keeps its effect on the difference quotient small.
    double hx = (fabs(o.center) > 100 * spread ? 1e-4 : 1e-5) * spread;
    fd_check(t, "ref dinp vs finite differences", &u, x, n, fdx, o.fd_max ? o.fd_max : 48, hx);
    if (Wt) fd_check(t, "ref dweight vs finite differences", &u, w, C, fdw, 24, 1e-6);
    if (Bs) fd_check(t, "ref dbias vs finite differences", &u, b, C, fdb, 24, 1e-6);

    free(x);
    free(w);
    free(b);
    free(g);
    free(pdx);
    free(pdw);
    free(pdb);
    free(out);
    free(mean);
    free(rstd);
    free(gm);
    free(gr);
    free(out_g);
    free(m1);
    free(r1);
    free(dx);
    free(dw);
    free(db);
    free(fdx);
    free(fdw);
    free(fdb);
    free(fo);
    tu_free(t, &gx);
    tu_free(t, &gw);
    tu_free(t, &gb);
    tu_free(t, &gg);
    tu_free(t, &gout);
    tu_free(t, &gmean);
    tu_free(t, &grstd);
    tu_free(t, &gdx);
    tu_free(t, &gdw);
    tu_free(t, &gdb);
    tu_free(t, &gdx0);
    tu_free(t, &gdw1);
    tu_free(t, &gdw2);
    tu_free(t, &scratch);
}

static void bad_args(tu_ctx* t) {
    tu_case(t, "bad arguments");
    vkd_error e = {0};
    tu_buf b = tu_alloc(t, 64);
    vkd_groupnorm_forward(t->s, b.addr, b.addr, b.addr, b.addr, 0, 0, 1, 6, 2, 2, 4, 1e-5f, false);
    tu_check(t, vkd_stream_submit(t->s, &e) == VKD_ERR_INVALID, "G not dividing C: %s", e.msg);
    vkd_groupnorm_forward(t->s, b.addr, b.addr, b.addr, b.addr, 0, 0, 1, 6, 2, 2, 0, 1e-5f, false);
    tu_check(t, vkd_stream_submit(t->s, &e) == VKD_ERR_INVALID, "G = 0: %s", e.msg);
    vkd_groupnorm_backward(t->s, b.addr, 0, 0, 0, b.addr, b.addr, 0, 0, b.addr, b.addr, 1, 4, 2, 2, 2, false);
    tu_check(t, vkd_stream_submit(t->s, &e) == VKD_ERR_INVALID, "missing scratch: %s", e.msg);
    tu_free(t, &b);
}

static void workgroup_team_cases(tu_ctx* t) {
    gn_case(t, (gn_shape){1, 3, 1, 1, 1}, (gn_opts){0});
    gn_case(t, (gn_shape){2, 64, 8, 8, 32}, (gn_opts){.silu = true});
    gn_case(t, (gn_shape){1, 8, 33, 33, 2}, (gn_opts){.in_place = true, .silu = true});
    gn_case(t, (gn_shape){1, 32, 64, 64, 32}, (gn_opts){.silu = true});
    gn_case(t, (gn_shape){2, 32, 33, 33, 1}, (gn_opts){.fd_max = 16});
    gn_case(t, (gn_shape){1, 1024, 1, 3, 1}, (gn_opts){.center = -1000.0, .spread = 0.1, .silu = true});
    gn_case(t, (gn_shape){2, 4, 1, 1, 2}, (gn_opts){.center = 1000.0, .spread = 0.1});
}

void test_groupnorm(tu_ctx* t) {
    // Single-workgroup path (groups of at most 2048 values, or images of 1-2 pixels).
    gn_case(t, (gn_shape){1, 3, 1, 1, 1}, (gn_opts){0});
    gn_case(t, (gn_shape){1, 3, 1, 1, 3}, (gn_opts){0});  // one value per group: var 0, out = bias
    gn_case(t, (gn_shape){2, 6, 1, 2, 3}, (gn_opts){.silu = true});
    gn_case(t, (gn_shape){1, 3, 5, 7, 3}, (gn_opts){0});
    gn_case(t, (gn_shape){3, 20, 13, 11, 5}, (gn_opts){.no_bias = true});
    gn_case(t, (gn_shape){2, 64, 8, 8, 32}, (gn_opts){0});
    gn_case(t, (gn_shape){2, 64, 8, 8, 32}, (gn_opts){.silu = true});
    gn_case(t, (gn_shape){1, 8, 33, 33, 2}, (gn_opts){.in_place = true, .silu = true});  // large group, in place
    // Per-channel statistics path.
    gn_case(t, (gn_shape){1, 32, 64, 64, 32}, (gn_opts){.silu = true});
    gn_case(t, (gn_shape){1, 32, 64, 64, 32}, (gn_opts){0});
    gn_case(t, (gn_shape){2, 32, 33, 33, 1}, (gn_opts){.fd_max = 16});
    gn_case(t, (gn_shape){2, 8, 40, 40, 2}, (gn_opts){.no_affine = true, .silu = true});
    gn_case(t, (gn_shape){1, 1024, 1, 3, 1}, (gn_opts){.silu = true});  // 3-pixel images, 1024 channels merged
    // Numerical stability: mean 1e3, std 0.1, on both paths.
    gn_case(t, (gn_shape){2, 64, 8, 8, 32}, (gn_opts){.center = 1000.0, .spread = 0.1});
    gn_case(t, (gn_shape){1, 32, 32, 32, 8}, (gn_opts){.center = 1000.0, .spread = 0.1, .silu = true});
    gn_case(t, (gn_shape){1, 1024, 1, 3, 1}, (gn_opts){.center = -1000.0, .spread = 0.1});
    gn_case(t, (gn_shape){2, 4, 1, 1, 2}, (gn_opts){.center = 1000.0, .spread = 0.1});
    if (!t->quick) gn_case(t, (gn_shape){2, 320, 32, 32, 32}, (gn_opts){.silu = true, .fd_max = 8});  // SD-sized
    tu_with_workgroup_teams(t, workgroup_team_cases);
    bad_args(t);
}
