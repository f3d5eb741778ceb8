// LayerNorm over the last dimension: C = 1, 32, 37, 768 and N from 1 to 1000 (the
// parameter gradients switch to split row blocks past 256 rows for C >= 32), with and
// without the affine parameters, in place, and rows with mean 1e3 and std 0.1 (where
// E[x^2] - E[x]^2 in float32 would cancel to garbage). GPU forward, saved statistics and
// backward against the float64 reference; accumulation into pre-filled gradients; the
// reference backward against central differences for inp, weight and bias.
#define _POSIX_C_SOURCE 200809L  // setenv, strdup
#include "harness.h"
#include "vkdream/nn/layernorm.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

// The kernels reduce each item (row, group, channel) with a subgroup or a whole workgroup
// (src/nn/reduce_team.h); the device decides, $VKD_TEAM_SG_MAX overrides. Cases run
// with the device's choice and again with workgroups for every item.


typedef struct ln_fd {
    const double *x, *w, *b, *g;
    uint32_t N, C;
    double eps;
    double *out, *mean, *rstd;
    int64_t row;  // >= 0: only this row's terms of L (the others do not depend on its inputs)
} ln_fd;

static double ln_loss(void* user) {
    ln_fd* u = user;
    if (u->row >= 0) {
        size_t o = (size_t)u->row * u->C;
        vkd_ref_layernorm_forward(u->out, u->mean, u->rstd, u->x + o, u->w, u->b, 1, u->C, u->eps);
        return tu_dot(u->out, u->g + o, u->C);
    }
    vkd_ref_layernorm_forward(u->out, u->mean, u->rstd, u->x, u->w, u->b, u->N, u->C, u->eps);
    return tu_dot(u->out, u->g, (size_t)u->N * u->C);
}

// Central differences of L = sum(out * g) with respect to up to `max` entries of v
// (which u reads), compared with the analytic gradient ana_full. v = inp restricts L to
// the probed row, which keeps the other rows' rounding out of the difference quotient.
// h is relative to the spread of v: the curvature of L scales with rstd^3.
static void fd_check(tu_ctx* t, const char* what, ln_fd* u, double* v, size_t n, const double* ana_full, size_t max,
                     double h) {
    size_t m = n < max ? n : max;
    double* num = tu_alloc_d(m);
    double* ana = tu_alloc_d(m);
    for (size_t k = 0; k < m; k++) {
        size_t i = m == n ? k : (k * 7919u + 11) % n;
        u->row = v == u->x ? (int64_t)(i / u->C) : -1;
        tu_fd_grad(ln_loss, u, &v[i], 1, h, &num[k]);
        ana[k] = ana_full[i];
    }
    tu_check_close(t, what, num, ana, m, 1e-6, 1e-9);
    free(num);
    free(ana);
}

static void ln_case(tu_ctx* t, uint32_t N, uint32_t C, bool affine, double center, double spread, float eps) {
    tu_case(t, "layernorm N=%u C=%u%s mean %g std %g eps %g%s", N, C, affine ? "" : " no affine", center, spread,
            (double)eps, tu_team_label());
    size_t n = (size_t)N * C;
    double* x = tu_alloc_d(n);
    double* w = tu_alloc_d(C);
    double* b = tu_alloc_d(C);
    double* g = tu_alloc_d(n);
    double* pdx = tu_alloc_d(n);
    double* pdw = tu_alloc_d(C);
    double* pdb = tu_alloc_d(C);
    tu_fill_normal(t, x, n, spread);
    for (size_t i = 0; i < n; i++) x[i] += center;
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
    const double* W = affine ? w : NULL;
    const double* Bb = affine ? b : NULL;

    uint64_t sb = vkd_layernorm_backward_scratch_bytes(N, C);
    tu_buf gx = tu_upload_d(t, x, n), gw = tu_upload_d(t, w, C), gb = tu_upload_d(t, b, C), gg = tu_upload_d(t, g, n);
    tu_buf gout = tu_alloc(t, n), gmean = tu_alloc(t, N), grstd = tu_alloc(t, N);
    tu_buf ginp = tu_upload_d(t, x, n), gmean2 = tu_alloc(t, N), grstd2 = tu_alloc(t, N);
    tu_buf gdx = tu_upload_d(t, pdx, n), gdw = tu_upload_d(t, pdw, C), gdb = tu_upload_d(t, pdb, C);
    tu_buf gdw1 = tu_zeros(t, C), gdw2 = tu_zeros(t, C), gdx0 = tu_zeros(t, n);
    tu_buf scratch = tu_alloc(t, sb ? sb / 4 : 1);
    vkd_addr sc = sb ? scratch.addr : 0;
    vkd_addr aw = affine ? gw.addr : 0, ab = affine ? gb.addr : 0;
    vkd_layernorm_forward(t->s, gout.addr, gmean.addr, grstd.addr, gx.addr, aw, ab, N, C, eps);
    vkd_layernorm_forward(t->s, ginp.addr, gmean2.addr, grstd2.addr, ginp.addr, aw, ab, N, C, eps);  // in place
    vkd_layernorm_backward(t->s, gdx.addr, affine ? gdw.addr : 0, affine ? gdb.addr : 0, sc, gg.addr, gx.addr, aw,
                           gmean.addr, grstd.addr, N, C);
    vkd_layernorm_backward(t->s, gdx0.addr, 0, 0, 0, gg.addr, gx.addr, aw, gmean.addr, grstd.addr, N, C);
    // dweight alone, twice: the column sums must be bit-identical.
    vkd_layernorm_backward(t->s, 0, gdw1.addr, 0, sc, gg.addr, gx.addr, aw, gmean.addr, grstd.addr, N, C);
    vkd_layernorm_backward(t->s, 0, gdw2.addr, 0, sc, gg.addr, gx.addr, aw, gmean.addr, grstd.addr, N, C);
    tu_run(t);

    double* out = tu_alloc_d(n);
    double* mean = tu_alloc_d(N);
    double* rstd = tu_alloc_d(N);
    vkd_ref_layernorm_forward(out, mean, rstd, x, W, Bb, N, C, (double)eps);
    // The mean is stored in float32: within half an ulp of |mean| plus summation error.
    double mean_tol = 0.6 * ldexp(1.0, ilogb(fabs(center) + 4 * spread) - 23) + 1e-7 * spread;
    tu_expect_buf(t, "mean", gmean, mean, 0, mean_tol);
    tu_expect_buf(t, "rstd", grstd, rstd, 1e-5, 0);
    double* gm = tu_download_d(t, gmean);
    double* gr = tu_download_d(t, grstd);
    // out is (x - mean) * rstd * w + b with the float32 mean: its rounding shifts each row
    // by up to mean_tol * rstd * |w|, which is ~1e-6 for O(1) data and ~3e-4 at mean 1e3.
    double wmax = 1, rmax = 0;
    if (affine)
        for (uint32_t c = 0; c < C; c++) wmax = fmax(wmax, fabs(w[c]));
    for (uint32_t r = 0; r < N; r++) rmax = fmax(rmax, rstd[r]);
    double shift = mean_tol * rmax * wmax;
    tu_expect_buf(t, "out", gout, out, 1e-5, shift + 1e-6);
    tu_expect_buf(t, "out in place", ginp, out, 1e-5, shift + 1e-6);
    // The same with the GPU's own statistics: tight whatever the magnitude.
    double* out_g = tu_alloc_d(n);
    for (uint32_t r = 0; r < N; r++)
        for (uint32_t c = 0; c < C; c++) {
            size_t i = (size_t)r * C + c;
            out_g[i] = (x[i] - gm[r]) * gr[r] * (affine ? w[c] : 1.0) + (affine ? b[c] : 0.0);
        }
    tu_expect_buf(t, "out given the GPU's mean and rstd", gout, out_g, 1e-5, 1e-6);

    // Backward against the reference given the GPU's saved statistics (what the GPU
    // backward uses), and accumulated into the pre-filled gradients.
    double* dx = tu_alloc_d(n);
    double* dw = tu_alloc_d(C);
    double* db = tu_alloc_d(C);
    vkd_ref_layernorm_backward(dx, dw, db, g, x, W, gm, gr, N, C);
    double* rdx = tu_alloc_d(n);
    for (size_t i = 0; i < n; i++) rdx[i] = pdx[i] + dx[i];
    tu_expect_buf(t, "dinp", gdx0, dx, 1e-5, 1e-6);
    tu_expect_buf(t, "dinp accumulated", gdx, rdx, 1e-5, 1e-6);
    if (affine) {
        double* rdw = tu_alloc_d(C);
        double* rdb = tu_alloc_d(C);
        for (uint32_t c = 0; c < C; c++) rdw[c] = pdw[c] + dw[c], rdb[c] = pdb[c] + db[c];
        tu_expect_buf(t, "dweight accumulated", gdw, rdw, 1e-5, 1e-5);
        tu_expect_buf(t, "dbias accumulated", gdb, rdb, 1e-5, 1e-5);
        free(rdw);
        free(rdb);
    }
    tu_expect_buf(t, "dweight alone", gdw1, dw, 1e-5, 1e-5);
    double* w1 = tu_download_d(t, gdw1);
    double* w2 = tu_download_d(t, gdw2);
    tu_check(t, memcmp(w1, w2, C * sizeof *w1) == 0, "dweight bit-identical across runs (scratch %llu bytes)",
             (unsigned long long)sb);
    free(w1);
    free(w2);

    // Reference backward (with its own statistics) vs central differences of the
    // reference forward, for every gradient.
    double* fdx = tu_alloc_d(n);
    double* fdw = tu_alloc_d(C);
    double* fdb = tu_alloc_d(C);
    vkd_ref_layernorm_backward(fdx, fdw, fdb, g, x, W, mean, rstd, N, C);
    double* fo = tu_alloc_d(n);
    double* fm = tu_alloc_d(N);
    double* fr = tu_alloc_d(N);
    ln_fd u = {.x = x, .w = W, .b = Bb, .g = g, .N = N, .C = C, .eps = eps, .out = fo, .mean = fm, .rstd = fr};
    // |mean| >> std: every xhat carries ~1e-16 |mean| / std of float64 rounding, which a
    // 1e-6 step would magnify to ~1e-5; a 10x larger step keeps it far below the tolerance.
    double hx = (fabs(center) > 100 * spread ? 1e-4 : 1e-5) * spread;
    fd_check(t, "ref dinp vs finite differences", &u, x, n, fdx, 48, hx);
    if (affine) {
        fd_check(t, "ref dweight vs finite differences", &u, w, C, fdw, 32, 1e-6);
        fd_check(t, "ref dbias vs finite differences", &u, b, C, fdb, 32, 1e-6);
    }

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
    free(dx);
    free(dw);
    free(db);
    free(rdx);
    free(fdx);
    free(fdw);
    free(fdb);
    free(fo);
    free(fm);
    free(fr);
    tu_free(t, &gx);
    tu_free(t, &gw);
    tu_free(t, &gb);
    tu_free(t, &gg);
    tu_free(t, &gout);
    tu_free(t, &gmean);
    tu_free(t, &grstd);
    tu_free(t, &ginp);
    tu_free(t, &gmean2);
    tu_free(t, &grstd2);
    tu_free(t, &gdx);
    tu_free(t, &gdw);
    tu_free(t, &gdb);
    tu_free(t, &gdw1);
    tu_free(t, &gdw2);
    tu_free(t, &gdx0);
    tu_free(t, &scratch);
}

static void bad_args(tu_ctx* t) {
    tu_case(t, "bad arguments");
    vkd_error e = {0};
    tu_buf b = tu_alloc(t, 4);
    vkd_layernorm_backward(t->s, 0, b.addr, 0, 0, b.addr, b.addr, 0, b.addr, b.addr, 100000, 32);
    tu_check(t, vkd_stream_submit(t->s, &e) == VKD_ERR_INVALID, "missing scratch: %s", e.msg);
    vkd_layernorm_forward(t->s, b.addr, 0, b.addr, b.addr, 0, 0, 1, 4, 1e-5f);
    tu_check(t, vkd_stream_submit(t->s, &e) == VKD_ERR_INVALID, "missing mean: %s", e.msg);
    tu_free(t, &b);
}

static void workgroup_team_cases(tu_ctx* t) {
    ln_case(t, 1, 32, true, 0.0, 1.0, 1e-5f);
    ln_case(t, 5, 37, true, 0.0, 1.0, 1e-5f);
    ln_case(t, 3, 1, true, 0.0, 1.0, 1e-5f);
    ln_case(t, 33, 768, true, 0.0, 1.0, 1e-5f);
    ln_case(t, 5, 37, false, 0.5, 2.0, 1e-5f);
    ln_case(t, 5, 768, true, 1000.0, 0.1, 1e-5f);
}

void test_layernorm(tu_ctx* t) {
    // Rows of up to 1024 values go to one subgroup each, longer ones (1500) to a workgroup.
    const uint32_t shapes[][2] = {{1, 32}, {5, 37}, {3, 1}, {33, 768}, {7, 3}, {1000, 32}, {300, 37}, {3, 1500}};
    for (size_t i = 0; i < sizeof shapes / sizeof shapes[0]; i++)
        ln_case(t, shapes[i][0], shapes[i][1], true, 0.0, 1.0, 1e-5f);
    ln_case(t, 5, 37, false, 0.5, 2.0, 1e-5f);
    ln_case(t, 2, 768, true, 0.0, 1e-3, 1e-6f);  // eps comparable to the variance
    // Numerical stability: mean 1e3, std 0.1.
    ln_case(t, 5, 768, true, 1000.0, 0.1, 1e-5f);
    ln_case(t, 33, 37, true, -1000.0, 0.1, 1e-5f);
    if (!t->quick) ln_case(t, 2 * 4096, 320, true, 0.0, 1.0, 1e-5f);  // an SD transformer's token count
    tu_with_workgroup_teams(t, workgroup_team_cases);
    bad_args(t);
}
