// Elementwise ops: unary activations, same-shape add/sub/mul, GEGLU. Every unary op is
// checked elementwise (relative error) on a grid with the awkward points (0, +-1e-3,
// saturation at +-25, softplus's threshold at 20) and on random values; its float64
// derivative is checked against central differences.
#include "harness.h"
#include "vkdream/nn/eltwise.h"

#include <math.h>
#include <stdlib.h>

// Inputs are rounded to float32 first, so the reference sees exactly what the GPU sees.

// Every element: |got - ref| <= rtol |ref| + atol (a per-element relative check: the
// global check of tu_check_close would let exp(25) hide errors in tiny values).
// cond (may be NULL) widens the tolerance to rtol |ref| (1 + cond[i]): a function's
// condition number |x f'(x) / f(x)| says how much the float32 rounding of its argument
// (and of constants such as 1.702) moves even a perfect float32 result.
static bool expect_rel_cond(tu_ctx* t, const char* what, const double* got, const double* ref, const double* cond,
                            size_t n, double rtol, double atol) {
    double worst = 0;
    size_t wi = 0, bad = 0;
    for (size_t i = 0; i < n; i++) {
        double err = fabs(got[i] - ref[i]);
        double ratio = err / (rtol * fabs(ref[i]) * (1.0 + (cond ? cond[i] : 0.0)) + atol);
        if (!(ratio <= 1.0)) bad++;
        if (!(ratio <= worst)) worst = ratio, wi = i;
    }
    return tu_check(t, bad == 0 && n > 0,
                    "%s: n=%zu elementwise |d| <= %.1g|ref| + %.1g: %zu bad, worst at %zu (got %.9g ref %.9g, %.2f of tol)",
                    what, n, rtol, atol, bad, wi, n ? got[wi] : 0.0, n ? ref[wi] : 0.0, worst);
}

static bool expect_rel(tu_ctx* t, const char* what, const double* got, const double* ref, size_t n, double rtol,
                       double atol) {
    return expect_rel_cond(t, what, got, ref, NULL, n, rtol, atol);
}

static bool expect_buf_rel(tu_ctx* t, const char* what, tu_buf b, const double* ref, const double* cond, double rtol,
                           double atol) {
    double* got = tu_download_d(t, b);
    bool ok = expect_rel_cond(t, what, got, ref, cond, b.n, rtol, atol);
    free(got);
    return ok;
}

// ---------------------------------------------------------------------------
// Unary

static const vkd_unary_op all_unary[] = {VKD_UNARY_SILU,     VKD_UNARY_GELU,    VKD_UNARY_GELU_TANH,
                                         VKD_UNARY_QUICK_GELU, VKD_UNARY_SIGMOID, VKD_UNARY_SOFTPLUS,
                                         VKD_UNARY_EXP,      VKD_UNARY_RELU,    VKD_UNARY_TANH};
#define N_UNARY (sizeof all_unary / sizeof all_unary[0])

// L restricted to one element: the other terms of sum(out * g) do not depend on x[i],
// and leaving them out keeps the difference quotient free of their rounding (exp(25)
// next to sigmoid(-25) would otherwise swamp it).
typedef struct unary_fd {
    vkd_unary_op op;
    const double* x;
    double g;
} unary_fd;

static double unary_term(void* user) {
    unary_fd* u = user;
    return vkd_ref_unary(u->op, *u->x) * u->g;
}

static void unary_case(tu_ctx* t, vkd_unary_op op, const double* xs, size_t n, bool fd) {
    tu_case(t, "%s n=%zu", vkd_unary_op_name(op), n);
    double* x = tu_alloc_d(n);
    for (size_t i = 0; i < n; i++) x[i] = xs[i];
    tu_round_f32(x, n);
    double* g = tu_alloc_d(n);
    double* pre = tu_alloc_d(n);
    tu_fill_normal(t, g, n, 1.0);
    tu_fill_normal(t, pre, n, 1.0);
    tu_round_f32(g, n);
    tu_round_f32(pre, n);

    tu_buf gx = tu_upload_d(t, x, n), gg = tu_upload_d(t, g, n), gpre = tu_upload_d(t, pre, n);
    tu_buf gout = tu_alloc(t, n), gd0 = tu_zeros(t, n), gin = tu_upload_d(t, x, n);
    vkd_unary_forward(t->s, gout.addr, gx.addr, n, op);
    vkd_unary_backward(t->s, gd0.addr, gg.addr, gx.addr, n, op);
    vkd_unary_backward(t->s, gpre.addr, gg.addr, gx.addr, n, op);
    vkd_unary_forward(t->s, gin.addr, gin.addr, n, op);  // in place
    tu_run(t);

    double* out = tu_alloc_d(n);
    double* d0 = tu_alloc_d(n);
    double* dpre = tu_alloc_d(n);
    for (size_t i = 0; i < n; i++) dpre[i] = pre[i];
    vkd_ref_unary_forward(out, x, n, op);
    vkd_ref_unary_backward(d0, g, x, n, op);
    vkd_ref_unary_backward(dpre, g, x, n, op);
    // Condition numbers of f and f' at each x (f'' by a central difference).
    double* cf = tu_alloc_d(n);
    double* cd = tu_alloc_d(n);
    for (size_t i = 0; i < n; i++) {
        double f = vkd_ref_unary(op, x[i]), d = vkd_ref_unary_deriv(op, x[i]), h = 1e-5 * fmax(1.0, fabs(x[i]));
        double d2 = (vkd_ref_unary_deriv(op, x[i] + h) - vkd_ref_unary_deriv(op, x[i] - h)) / (2 * h);
        cf[i] = f != 0 ? fabs(x[i] * d / f) : 0.0;
        cd[i] = d != 0 ? fabs(x[i] * d2 / d) : 0.0;
    }
    // About 8 ULP of float32 (2^-24 = 6e-8) times (1 + condition number) for every value;
    // 1e-37 absorbs results below float32's normal range in the reference.
    expect_buf_rel(t, "out", gout, out, cf, 5e-7, 1e-37);
    expect_buf_rel(t, "out in place", gin, out, cf, 5e-7, 1e-37);
    tu_expect_buf(t, "out (global)", gout, out, 1e-5, 1e-7);
    // The same for dinp = dout f'(x), with an absolute floor of 1e-7 |dout|.
    expect_buf_rel(t, "dinp", gd0, d0, cd, 5e-7, 1e-7);
    tu_expect_buf(t, "dinp accumulated", gpre, dpre, 1e-5, 1e-6);

    if (fd) {
        double* num = tu_alloc_d(n);
        double* ana = tu_alloc_d(n);
        size_t used = 0;
        for (size_t i = 0; i < n; i++) {
            double h = 1e-6 * fmax(1.0, fabs(x[i]));
            // Skip the kinks: relu at 0 and softplus's switch to x at 20.
            if (op == VKD_UNARY_RELU && fabs(x[i]) < 10 * h) continue;
            if (op == VKD_UNARY_SOFTPLUS && fabs(x[i] - 20.0) < 10 * h) continue;
            unary_fd u = {op, &x[i], g[i]};
            tu_fd_grad(unary_term, &u, &x[i], 1, h, &num[used]);
            ana[used++] = g[i] * vkd_ref_unary_deriv(op, x[i]);
        }
        expect_rel(t, "ref dinp vs finite differences", num, ana, used, 1e-6, 1e-9);
        free(num);
        free(ana);
    }
    free(x);
    free(g);
    free(pre);
    free(out);
    free(d0);
    free(dpre);
    free(cf);
    free(cd);
    tu_free(t, &gx);
    tu_free(t, &gg);
    tu_free(t, &gpre);
    tu_free(t, &gout);
    tu_free(t, &gd0);
    tu_free(t, &gin);
}

// GELU = x Phi(x): the GPU's Phi (from its erf/erfc) recovered as gelu(x) / x must be
// within 1.2e-7 of the exact Phi everywhere (|x| >= 1e-3, away from the 0/0): erf's own
// error (< 1e-7) halved, plus the roundings of x / sqrt 2, 0.5 + 0.5 erf and x * Phi.
static void gelu_cdf_error(tu_ctx* t, const double* xs, size_t n) {
    tu_case(t, "gelu: Phi(x) = gelu(x) / x absolute error");
    double* x = tu_alloc_d(n);
    for (size_t i = 0; i < n; i++) x[i] = xs[i];
    tu_round_f32(x, n);
    tu_buf gx = tu_upload_d(t, x, n), gout = tu_alloc(t, n);
    vkd_unary_forward(t->s, gout.addr, gx.addr, n, VKD_UNARY_GELU);
    tu_run(t);
    double* got = tu_download_d(t, gout);
    double worst = 0, at = 0;
    for (size_t i = 0; i < n; i++) {
        if (fabs(x[i]) < 1e-3) continue;
        double err = fabs(got[i] / x[i] - vkd_ref_unary(VKD_UNARY_GELU, x[i]) / x[i]);
        if (err > worst) worst = err, at = x[i];
    }
    tu_check(t, worst < 1.2e-7, "max |Phi_gpu - Phi| = %.3g at x = %g (bound 1.2e-7)", worst, at);
    free(got);
    free(x);
    tu_free(t, &gx);
    tu_free(t, &gout);
}

static void unary_tests(tu_ctx* t) {
    // The grid: zero, tiny, O(1), around softplus's threshold, saturation, plus the
    // erf/erfc switch points of the GPU code (|x|/sqrt2 = 0.85, 2) and tails.
    static const double grid_pos[] = {1e-3, 0.1,  0.5, 0.75179, 1.0,  1.2021, 2.0, 2.8284, 3.0,  4.0,  5.0,
                                      7.0,  9.0,  10.0, 12.0, 14.0, 16.0, 19.9, 20.0, 20.1, 25.0, 30.0,
                                      50.0, 87.0, 100.0};  // exp: -87 near FLT_MIN, -100 denormal
    enum { NP = sizeof grid_pos / sizeof grid_pos[0] };
    double grid[2 * NP + 1 + 160];
    size_t n = 0;
    grid[n++] = 0.0;
    for (size_t i = 0; i < NP; i++) {
        if (grid_pos[i] <= 87.0) grid[n++] = grid_pos[i];  // exp(100) overflows float32
        grid[n++] = -grid_pos[i];
    }
    tu_case(t, "grid");
    for (int i = 0; i < 80; i++) grid[n++] = 4.0 * tu_normal(t);
    for (int i = 0; i < 80; i++) grid[n++] = tu_uniform(t, -1.0, 1.0);
    for (size_t k = 0; k < N_UNARY; k++) unary_case(t, all_unary[k], grid, n, true);

    // A dense sweep over [-30, 30] in steps of 1/1024 (exact in float32) crosses every
    // branch and fit boundary of the GPU math (erf's at |x| = 0.85 sqrt 2 and 2 sqrt 2,
    // tanh's at 0.55, softplus's at 20, exp's ranges).
    size_t ns = t->quick ? 6145 : 61441;
    double step = 60.0 / (double)(ns - 1);
    double* sweep = tu_alloc_d(ns);
    for (size_t i = 0; i < ns; i++) sweep[i] = -30.0 + step * (double)i;
    for (size_t k = 0; k < N_UNARY; k++) unary_case(t, all_unary[k], sweep, ns, false);
    gelu_cdf_error(t, sweep, ns);
    free(sweep);

    // Sizes that are not multiples of the workgroup; values N(0, 3^2).
    const size_t sizes[] = {1, 7, 1000, 65537};
    for (size_t si = 0; si < sizeof sizes / sizeof sizes[0]; si++) {
        size_t m = sizes[si];
        if (t->quick && m > 1000) continue;
        double* xs = tu_alloc_d(m);
        tu_case(t, "random %zu", m);
        tu_fill_normal(t, xs, m, 3.0);
        for (size_t k = 0; k < N_UNARY; k++) unary_case(t, all_unary[k], xs, m, m <= 1000);
        free(xs);
    }
}

typedef struct scale_fd {
    const double* x;
    double g, alpha, beta;
} scale_fd;

static double scale_term(void* user) {
    scale_fd* u = user;
    double out;
    vkd_ref_scale_forward(&out, u->x, 1, u->alpha, u->beta);
    return out * u->g;
}

static void scale_case(tu_ctx* t, size_t n, double alpha, double beta) {
    tu_case(t, "scale n=%zu alpha=%g beta=%g", n, alpha, beta);
    double* x = tu_alloc_d(n);
    double* g = tu_alloc_d(n);
    double* pre = tu_alloc_d(n);
    tu_fill_normal(t, x, n, 2.0);
    tu_fill_normal(t, g, n, 1.0);
    tu_fill_normal(t, pre, n, 1.0);
    tu_buf gx = tu_upload_d(t, x, n), gg = tu_upload_d(t, g, n), gpre = tu_upload_d(t, pre, n), gout = tu_alloc(t, n);
    tu_round_f32(x, n);
    tu_round_f32(g, n);
    tu_round_f32(pre, n);
    vkd_scale_forward(t->s, gout.addr, gx.addr, n, (float)alpha, (float)beta);
    vkd_scale_backward(t->s, gpre.addr, gg.addr, n, (float)alpha);
    tu_run(t);
    double* out = tu_alloc_d(n);
    vkd_ref_scale_forward(out, x, n, alpha, beta);
    vkd_ref_scale_backward(pre, g, n, alpha);
    tu_expect_buf(t, "out", gout, out, 1e-6, 1e-7);
    tu_expect_buf(t, "dinp accumulated", gpre, pre, 1e-6, 1e-7);
    // The reference backward against central differences of the reference forward.
    size_t k = n < 64 ? n : 64;
    double* ana = tu_alloc_d(k);
    double* num = tu_alloc_d(k);
    vkd_ref_scale_backward(ana, g, k, alpha);
    for (size_t i = 0; i < k; i++) {
        scale_fd u = {&x[i], g[i], alpha, beta};
        tu_fd_grad(scale_term, &u, &x[i], 1, 1e-6, &num[i]);
    }
    expect_rel(t, "ref dinp vs finite differences", num, ana, k, 1e-8, 1e-12);
    free(ana);
    free(num);
    free(x);
    free(g);
    free(pre);
    free(out);
    tu_free(t, &gx);
    tu_free(t, &gg);
    tu_free(t, &gpre);
    tu_free(t, &gout);
}

// ---------------------------------------------------------------------------
// Binary

typedef struct binary_fd {
    vkd_binary_op op;
    const double *a, *b;
    double g;
} binary_fd;

static double binary_term(void* user) {
    binary_fd* u = user;
    double out;
    vkd_ref_binary_forward(&out, u->a, u->b, 1, u->op);
    return out * u->g;
}

static void binary_case(tu_ctx* t, vkd_binary_op op, size_t n) {
    tu_case(t, "%s n=%zu", vkd_binary_op_name(op), n);
    double* a = tu_alloc_d(n);
    double* b = tu_alloc_d(n);
    double* g = tu_alloc_d(n);
    double* pa = tu_alloc_d(n);
    double* pb = tu_alloc_d(n);
    tu_fill_normal(t, a, n, 1.0);
    tu_fill_normal(t, b, n, 1.0);
    tu_fill_normal(t, g, n, 1.0);
    tu_fill_normal(t, pa, n, 1.0);
    tu_fill_normal(t, pb, n, 1.0);
    tu_round_f32(a, n);
    tu_round_f32(b, n);
    tu_round_f32(g, n);
    tu_round_f32(pa, n);
    tu_round_f32(pb, n);
    tu_buf ga = tu_upload_d(t, a, n), gb = tu_upload_d(t, b, n), gg = tu_upload_d(t, g, n);
    tu_buf gpa = tu_upload_d(t, pa, n), gpb = tu_upload_d(t, pb, n), gout = tu_alloc(t, n);
    tu_buf gonly = tu_upload_d(t, pa, n), ginp = tu_upload_d(t, a, n);
    vkd_binary_forward(t->s, gout.addr, ga.addr, gb.addr, n, op);
    vkd_binary_forward(t->s, ginp.addr, ginp.addr, gb.addr, n, op);  // out aliases a
    vkd_binary_backward(t->s, gpa.addr, gpb.addr, gg.addr, ga.addr, gb.addr, n, op);
    // da only: db's address 0 means "not needed" (and a is then not read for mul).
    vkd_binary_backward(t->s, gonly.addr, 0, gg.addr, 0, gb.addr, n, op);
    tu_run(t);

    double* out = tu_alloc_d(n);
    double* only = tu_alloc_d(n);
    for (size_t i = 0; i < n; i++) only[i] = pa[i];
    vkd_ref_binary_forward(out, a, b, n, op);
    vkd_ref_binary_backward(only, NULL, g, a, b, n, op);
    double* da = tu_alloc_d(n);
    double* db = tu_alloc_d(n);
    vkd_ref_binary_backward(da, db, g, a, b, n, op);
    for (size_t i = 0; i < n; i++) pa[i] += da[i], pb[i] += db[i];
    tu_expect_buf(t, "out", gout, out, 1e-6, 1e-7);
    tu_expect_buf(t, "out in place", ginp, out, 1e-6, 1e-7);
    tu_expect_buf(t, "da accumulated", gpa, pa, 1e-6, 1e-7);
    tu_expect_buf(t, "db accumulated", gpb, pb, 1e-6, 1e-7);
    tu_expect_buf(t, "da alone", gonly, only, 1e-6, 1e-7);

    size_t m = n < 64 ? n : 64;
    double* na = tu_alloc_d(m);
    double* nb = tu_alloc_d(m);
    for (size_t i = 0; i < m; i++) {
        binary_fd u = {op, &a[i], &b[i], g[i]};
        tu_fd_grad(binary_term, &u, &a[i], 1, 1e-6, &na[i]);
        tu_fd_grad(binary_term, &u, &b[i], 1, 1e-6, &nb[i]);
    }
    tu_check_close(t, "ref da vs finite differences", da, na, m, 1e-7, 1e-9);
    tu_check_close(t, "ref db vs finite differences", db, nb, m, 1e-7, 1e-9);
    free(na);
    free(nb);
    free(a);
    free(b);
    free(g);
    free(pa);
    free(pb);
    free(out);
    free(only);
    free(da);
    free(db);
    tu_free(t, &ga);
    tu_free(t, &gb);
    tu_free(t, &gg);
    tu_free(t, &gpa);
    tu_free(t, &gpb);
    tu_free(t, &gout);
    tu_free(t, &gonly);
    tu_free(t, &ginp);
}

// ---------------------------------------------------------------------------
// GEGLU

typedef struct geglu_fd {
    const double* row;  // (2f,)
    const double* g;    // (f,)
    size_t f;
} geglu_fd;

static double geglu_row_loss(void* user) {
    geglu_fd* u = user;
    double* out = tu_alloc_d(u->f);
    vkd_ref_geglu_forward(out, u->row, 1, u->f);
    double l = tu_dot(out, u->g, u->f);
    free(out);
    return l;
}

static void geglu_case(tu_ctx* t, size_t rows, size_t f) {
    tu_case(t, "geglu rows=%zu f=%zu", rows, f);
    size_t ni = rows * 2 * f, no = rows * f;
    double* x = tu_alloc_d(ni);
    double* g = tu_alloc_d(no);
    double* pre = tu_alloc_d(ni);
    tu_fill_normal(t, x, ni, 2.0);
    tu_fill_normal(t, g, no, 1.0);
    tu_fill_normal(t, pre, ni, 1.0);
    tu_round_f32(x, ni);
    tu_round_f32(g, no);
    tu_round_f32(pre, ni);
    tu_buf gx = tu_upload_d(t, x, ni), gg = tu_upload_d(t, g, no), gpre = tu_upload_d(t, pre, ni);
    tu_buf gout = tu_alloc(t, no), gd0 = tu_zeros(t, ni);
    vkd_geglu_forward(t->s, gout.addr, gx.addr, rows, f);
    vkd_geglu_backward(t->s, gd0.addr, gg.addr, gx.addr, rows, f);
    vkd_geglu_backward(t->s, gpre.addr, gg.addr, gx.addr, rows, f);
    tu_run(t);
    double* out = tu_alloc_d(no);
    double* d0 = tu_alloc_d(ni);
    vkd_ref_geglu_forward(out, x, rows, f);
    vkd_ref_geglu_backward(d0, g, x, rows, f);
    vkd_ref_geglu_backward(pre, g, x, rows, f);
    expect_buf_rel(t, "out", gout, out, NULL, 2e-6, 1e-37);
    tu_expect_buf(t, "out (global)", gout, out, 1e-5, 1e-7);
    expect_buf_rel(t, "dinp", gd0, d0, NULL, 4e-6, 1e-7);
    tu_expect_buf(t, "dinp accumulated", gpre, pre, 1e-5, 1e-6);

    // Finite differences of the row's share of L = sum(out * g), up to 8 rows.
    size_t fr = rows < 8 ? rows : 8;
    double* num = tu_alloc_d(fr * 2 * f);
    for (size_t r = 0; r < fr; r++) {
        geglu_fd u = {&x[r * 2 * f], &g[r * f], f};
        tu_fd_grad(geglu_row_loss, &u, &x[r * 2 * f], 2 * f, 1e-6, &num[r * 2 * f]);
    }
    expect_rel(t, "ref dinp vs finite differences", num, d0, fr * 2 * f, 1e-6, 1e-8);
    free(num);
    free(x);
    free(g);
    free(pre);
    free(out);
    free(d0);
    tu_free(t, &gx);
    tu_free(t, &gg);
    tu_free(t, &gpre);
    tu_free(t, &gout);
    tu_free(t, &gd0);
}

static void bad_args(tu_ctx* t) {
    tu_case(t, "bad arguments");
    vkd_error e = {0};
    vkd_unary_forward(t->s, 0, 0, 4, (vkd_unary_op)99);
    tu_check(t, vkd_stream_submit(t->s, &e) == VKD_ERR_INVALID, "invalid unary op is an error: %s", e.msg);
    vkd_binary_forward(t->s, 0, 0, 0, 4, VKD_BINARY_COUNT);
    tu_check(t, vkd_stream_submit(t->s, &e) == VKD_ERR_INVALID, "invalid binary op is an error: %s", e.msg);
    vkd_binary_backward(t->s, 16, 0, 0, 0, 0, 4, VKD_BINARY_MUL);
    tu_check(t, vkd_stream_submit(t->s, &e) == VKD_ERR_INVALID, "mul backward without b is an error: %s", e.msg);
    vkd_geglu_forward(t->s, 0, 0, 65536, 32768);
    tu_check(t, vkd_stream_submit(t->s, &e) == VKD_ERR_INVALID, "geglu beyond 32-bit indices is an error: %s", e.msg);
}

void test_eltwise(tu_ctx* t) {
    unary_tests(t);
    scale_case(t, 1, 1.0, 0.0);
    scale_case(t, 1000, -1.5, 0.25);
    const size_t sizes[] = {1, 33, 1000, 4099};
    for (size_t i = 0; i < sizeof sizes / sizeof sizes[0]; i++)
        for (int op = 0; op < VKD_BINARY_COUNT; op++) binary_case(t, (vkd_binary_op)op, sizes[i]);
    const size_t shapes[][2] = {{1, 1}, {3, 7}, {14, 128}, {33, 65}};
    for (size_t i = 0; i < sizeof shapes / sizeof shapes[0]; i++) geglu_case(t, shapes[i][0], shapes[i][1]);
    bad_args(t);
}
