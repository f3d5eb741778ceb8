// Reductions: sum, mean, column sums and the MSE loss against float64 references, with
// sizes across the one-workgroup / two-pass boundary (4096) and up to 2^20 + 3; the
// result must be bit-identical across runs and between a 16-byte aligned input and the
// same data at an address only 4-byte aligned (vector and scalar loads sum in the same
// order). Backward broadcasts against the references, accumulation into pre-filled
// gradients, and the references against central differences.
#include "harness.h"
#include "vkdream/nn/reduce.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>


static double sum_abs(const double* x, size_t n) {
    double s = 0;
    for (size_t i = 0; i < n; i++) s += fabs(x[i]);
    return s;
}

// A buffer holding x at an offset of one float, so its address is 4- but not 16-byte aligned.
static tu_buf upload_misaligned(tu_ctx* t, const double* x, size_t n) {
    double* y = tu_alloc_d(n + 1);
    y[0] = 12345.0;  // never read
    memcpy(y + 1, x, n * sizeof *x);
    tu_buf b = tu_upload_d(t, y, n + 1);
    free(y);
    return b;
}

static tu_buf scratch_buf(tu_ctx* t, uint64_t bytes) { return tu_alloc(t, bytes ? bytes / 4 : 1); }

static bool same_bits(double a, double b) {
    float fa = (float)a, fb = (float)b;
    return memcmp(&fa, &fb, sizeof fa) == 0;
}

// ---------------------------------------------------------------------------
// sum and mean

typedef struct full_fd {
    const double* x;
    const double* b;  // MSE
    uint64_t n;
    int op;           // 0 sum, 1 mean, 2 mse
    double g;
} full_fd;

static double full_loss(void* user) {
    full_fd* u = user;
    double r = 0;
    if (u->op == 0) vkd_ref_sum_forward(&r, u->x, u->n, false);
    else if (u->op == 1) vkd_ref_mean_forward(&r, u->x, u->n, false);
    else vkd_ref_mse_loss_forward(&r, u->x, u->b, u->n);
    return r * u->g;
}

// Central differences of L = op(x) g at up to 24 indices against the reference gradient.
static void fd_check(tu_ctx* t, const char* what, full_fd* u, double* x, const double* ana_full) {
    size_t m = u->n < 24 ? (size_t)u->n : 24;
    double* num = tu_alloc_d(m);
    double* ana = tu_alloc_d(m);
    for (size_t k = 0; k < m; k++) {
        size_t i = m == u->n ? k : (size_t)((k * 7919u + 13) % u->n);
        tu_fd_grad(full_loss, u, &x[i], 1, 1e-5 * fmax(1.0, fabs(x[i])), &num[k]);
        ana[k] = ana_full[i];
    }
    tu_check_close(t, what, num, ana, m, 1e-6, 1e-9);
    free(num);
    free(ana);
}

static void sum_mean_case(tu_ctx* t, size_t n, bool mean) {
    const char* name = mean ? "mean" : "sum";
    tu_case(t, "%s n=%zu", name, n);
    double* x = tu_alloc_d(n);
    tu_fill_normal(t, x, n, 1.0);
    tu_round_f32(x, n);
    double prefill = 0.75;
    uint64_t sb = vkd_sum_scratch_bytes((uint32_t)n);
    tu_check(t, (sb == 0) == (n <= 4096) && sb <= 4096, "scratch %llu bytes", (unsigned long long)sb);
    tu_buf gx = tu_upload_d(t, x, n), gxm = upload_misaligned(t, x, n), scratch = scratch_buf(t, sb);
    tu_buf scratch_odd = scratch_buf(t, sb + 4);  // used from its second float on
    tu_buf o1 = tu_alloc(t, 1), o2 = tu_alloc(t, 1), o3 = tu_alloc(t, 1), oacc = tu_upload_d(t, &prefill, 1);
    void (*fwd)(vkd_stream*, vkd_addr, vkd_addr, vkd_addr, uint32_t, bool) = mean ? vkd_mean_forward : vkd_sum_forward;
    fwd(t->s, o1.addr, sb ? scratch.addr : 0, gx.addr, (uint32_t)n, false);
    fwd(t->s, o2.addr, sb ? scratch.addr : 0, gx.addr, (uint32_t)n, false);
    fwd(t->s, o3.addr, sb ? scratch_odd.addr + 4 : 0, gxm.addr + 4, (uint32_t)n, false);  // scalar loads, odd scratch
    fwd(t->s, oacc.addr, sb ? scratch.addr : 0, gx.addr, (uint32_t)n, true);
    tu_run(t);
    double ref, racc = prefill;
    (mean ? vkd_ref_mean_forward : vkd_ref_sum_forward)(&ref, x, n, false);
    (mean ? vkd_ref_mean_forward : vkd_ref_sum_forward)(&racc, x, n, true);
    // Rounding error of a float32 sum scales with sum |x| (the value may cancel to ~0).
    double scale = sum_abs(x, n) / (mean ? (double)n : 1.0);
    double* r1 = tu_download_d(t, o1);
    double* r2 = tu_download_d(t, o2);
    double* r3 = tu_download_d(t, o3);
    tu_check_close(t, name, r1, &ref, 1, 0, 2e-6 * scale + 1e-30);
    tu_check(t, same_bits(r1[0], r2[0]), "bit-identical across runs (%.9g, %.9g)", r1[0], r2[0]);
    tu_check(t, same_bits(r1[0], r3[0]), "aligned and misaligned input sum alike (%.9g, %.9g)", r1[0], r3[0]);
    tu_expect_buf(t, "accumulated", oacc, &racc, 0, 2e-6 * scale + 1e-6);
    free(r1);
    free(r2);
    free(r3);

    // Backward: dinp (pre-filled) += dout / (n for mean).
    double dout = -1.25;
    double* pre = tu_alloc_d(n);
    tu_fill_normal(t, pre, n, 1.0);
    tu_round_f32(pre, n);
    tu_buf gd = tu_upload_d(t, pre, n), gdout = tu_upload_d(t, &dout, 1);
    (mean ? vkd_mean_backward : vkd_sum_backward)(t->s, gd.addr, gdout.addr, (uint32_t)n);
    tu_run(t);
    (mean ? vkd_ref_mean_backward : vkd_ref_sum_backward)(pre, &dout, n);
    tu_expect_buf(t, "dinp accumulated", gd, pre, 1e-6, 1e-6);
    double* grad = tu_alloc_d(n);
    (mean ? vkd_ref_mean_backward : vkd_ref_sum_backward)(grad, &dout, n);
    full_fd u = {.x = x, .n = n, .op = mean, .g = dout};
    fd_check(t, "ref dinp vs finite differences", &u, x, grad);

    free(x);
    free(pre);
    free(grad);
    tu_free(t, &gx);
    tu_free(t, &gxm);
    tu_free(t, &scratch);
    tu_free(t, &scratch_odd);
    tu_free(t, &o1);
    tu_free(t, &o2);
    tu_free(t, &o3);
    tu_free(t, &oacc);
    tu_free(t, &gd);
    tu_free(t, &gdout);
}

// Positive values: the sum cannot cancel, so this is a relative-accuracy check of the
// float32 summation itself (2^20 + 3 terms near 1.5 must stay within 1e-6).
static void sum_positive(tu_ctx* t, size_t n) {
    tu_case(t, "sum of positive values n=%zu", n);
    double* x = tu_alloc_d(n);
    tu_fill_uniform(t, x, n, 1.0, 2.0);
    tu_round_f32(x, n);
    uint64_t sb = vkd_sum_scratch_bytes((uint32_t)n);
    tu_buf gx = tu_upload_d(t, x, n), scratch = scratch_buf(t, sb), out = tu_alloc(t, 1);
    vkd_sum_forward(t->s, out.addr, sb ? scratch.addr : 0, gx.addr, (uint32_t)n, false);
    tu_run(t);
    double ref;
    vkd_ref_sum_forward(&ref, x, n, false);
    tu_expect_buf(t, "sum", out, &ref, 1e-6, 0);
    free(x);
    tu_free(t, &gx);
    tu_free(t, &scratch);
    tu_free(t, &out);
}

static void empty_cases(tu_ctx* t) {
    tu_case(t, "n=0");
    double one = 1.0;
    tu_buf s0 = tu_upload_d(t, &one, 1), m0 = tu_upload_d(t, &one, 1), l0 = tu_upload_d(t, &one, 1);
    vkd_sum_forward(t->s, s0.addr, 0, 0, 0, false);
    vkd_mean_forward(t->s, m0.addr, 0, 0, 0, false);
    vkd_mse_loss_forward(t->s, l0.addr, 0, 0, 0, 0);
    tu_run(t);
    double* s = tu_download_d(t, s0);
    double* m = tu_download_d(t, m0);
    double* l = tu_download_d(t, l0);
    tu_check(t, s[0] == 0.0 && isnan(m[0]) && isnan(l[0]), "sum 0 (%g), mean NaN (%g), mse NaN (%g), as PyTorch", s[0],
             m[0], l[0]);
    free(s);
    free(m);
    free(l);
    tu_free(t, &s0);
    tu_free(t, &m0);
    tu_free(t, &l0);
}

// ---------------------------------------------------------------------------
// MSE loss

static void mse_case(tu_ctx* t, size_t n) {
    tu_case(t, "mse_loss n=%zu", n);
    double* a = tu_alloc_d(n);
    double* b = tu_alloc_d(n);
    tu_fill_normal(t, a, n, 1.0);
    tu_fill_normal(t, b, n, 0.5);
    tu_round_f32(a, n);
    tu_round_f32(b, n);
    uint64_t sb = vkd_sum_scratch_bytes((uint32_t)n);
    tu_buf ga = tu_upload_d(t, a, n), gb = tu_upload_d(t, b, n), scratch = scratch_buf(t, sb);
    tu_buf gam = upload_misaligned(t, a, n);
    tu_buf l1 = tu_alloc(t, 1), l2 = tu_alloc(t, 1), l3 = tu_alloc(t, 1);
    vkd_mse_loss_forward(t->s, l1.addr, sb ? scratch.addr : 0, ga.addr, gb.addr, (uint32_t)n);
    vkd_mse_loss_forward(t->s, l2.addr, sb ? scratch.addr : 0, ga.addr, gb.addr, (uint32_t)n);
    vkd_mse_loss_forward(t->s, l3.addr, sb ? scratch.addr : 0, gam.addr + 4, gb.addr, (uint32_t)n);
    tu_run(t);
    double ref;
    vkd_ref_mse_loss_forward(&ref, a, b, n);
    double* r1 = tu_download_d(t, l1);
    double* r2 = tu_download_d(t, l2);
    double* r3 = tu_download_d(t, l3);
    tu_check_close(t, "loss", r1, &ref, 1, 2e-6, 0);
    tu_check(t, same_bits(r1[0], r2[0]), "bit-identical across runs");
    tu_check(t, same_bits(r1[0], r3[0]), "aligned and misaligned a sum alike");
    free(r1);
    free(r2);
    free(r3);

    // Backward with a device dloss, into pre-filled da and db; then each alone.
    double dloss = 0.5;
    double* pa = tu_alloc_d(n);
    double* pb = tu_alloc_d(n);
    tu_fill_normal(t, pa, n, 1.0);
    tu_fill_normal(t, pb, n, 1.0);
    tu_round_f32(pa, n);
    tu_round_f32(pb, n);
    tu_buf gda = tu_upload_d(t, pa, n), gdb = tu_upload_d(t, pb, n), gdl = tu_upload_d(t, &dloss, 1);
    tu_buf gda0 = tu_zeros(t, n), gdb0 = tu_zeros(t, n);
    vkd_mse_loss_backward(t->s, gda.addr, gdb.addr, gdl.addr, ga.addr, gb.addr, (uint32_t)n);
    vkd_mse_loss_backward(t->s, gda0.addr, 0, gdl.addr, ga.addr, gb.addr, (uint32_t)n);
    vkd_mse_loss_backward(t->s, 0, gdb0.addr, gdl.addr, ga.addr, gb.addr, (uint32_t)n);
    tu_run(t);
    double* da = tu_alloc_d(n);
    double* db = tu_alloc_d(n);
    vkd_ref_mse_loss_backward(pa, pb, &dloss, a, b, n);
    vkd_ref_mse_loss_backward(da, db, &dloss, a, b, n);
    double gmax = 0;
    for (size_t i = 0; i < n; i++) gmax = fmax(gmax, fabs(da[i]));
    tu_expect_buf(t, "da accumulated", gda, pa, 1e-6, 1e-6 * gmax);
    tu_expect_buf(t, "db accumulated", gdb, pb, 1e-6, 1e-6 * gmax);
    tu_expect_buf(t, "da alone", gda0, da, 1e-6, 0);
    tu_expect_buf(t, "db alone", gdb0, db, 1e-6, 0);
    full_fd u = {.x = a, .b = b, .n = n, .op = 2, .g = dloss};
    fd_check(t, "ref da vs finite differences", &u, a, da);
    // d/db: the same loss with b as the variable (mse is symmetric in a and b).
    full_fd v = {.x = b, .b = a, .n = n, .op = 2, .g = dloss};
    fd_check(t, "ref db vs finite differences", &v, b, db);

    free(a);
    free(b);
    free(pa);
    free(pb);
    free(da);
    free(db);
    tu_free(t, &ga);
    tu_free(t, &gb);
    tu_free(t, &gam);
    tu_free(t, &scratch);
    tu_free(t, &l1);
    tu_free(t, &l2);
    tu_free(t, &l3);
    tu_free(t, &gda);
    tu_free(t, &gdb);
    tu_free(t, &gdl);
    tu_free(t, &gda0);
    tu_free(t, &gdb0);
}

// ---------------------------------------------------------------------------
// Column sums

typedef struct rows_fd {
    const double *x, *g;
    uint64_t N, C;
    double* out;
} rows_fd;

static double rows_loss(void* user) {
    rows_fd* u = user;
    vkd_ref_sum_rows_forward(u->out, u->x, u->N, u->C, false);
    return tu_dot(u->out, u->g, u->C);
}

static void rows_case(tu_ctx* t, uint32_t N, uint32_t C) {
    tu_case(t, "sum_rows N=%u C=%u", N, C);
    size_t n = (size_t)N * C;
    double* x = tu_alloc_d(n);
    double* pre = tu_alloc_d(C);
    tu_fill_normal(t, x, n, 1.0);
    tu_fill_normal(t, pre, C, 1.0);
    tu_round_f32(x, n);
    tu_round_f32(pre, C);
    uint64_t sb = vkd_sum_rows_scratch_bytes(N, C);
    tu_buf gx = tu_upload_d(t, x, n), scratch = scratch_buf(t, sb);
    tu_buf o1 = tu_alloc(t, C), o2 = tu_alloc(t, C), oacc = tu_upload_d(t, pre, C);
    vkd_sum_rows_forward(t->s, o1.addr, sb ? scratch.addr : 0, gx.addr, N, C, false);
    vkd_sum_rows_forward(t->s, o2.addr, sb ? scratch.addr : 0, gx.addr, N, C, false);
    vkd_sum_rows_forward(t->s, oacc.addr, sb ? scratch.addr : 0, gx.addr, N, C, true);
    tu_run(t);
    double* ref = tu_alloc_d(C);
    vkd_ref_sum_rows_forward(ref, x, N, C, false);
    vkd_ref_sum_rows_forward(pre, x, N, C, true);
    // Per column, the float32 error scales with sum over rows of |x|; ~0.8 N for normal x.
    double bound = 2e-6 * 0.8 * N * 1.5 + 1e-6;
    tu_expect_buf(t, "column sums", o1, ref, 0, bound);
    tu_expect_buf(t, "accumulated", oacc, pre, 0, bound);
    double* r1 = tu_download_d(t, o1);
    double* r2 = tu_download_d(t, o2);
    bool same = true;
    for (uint32_t c = 0; c < C; c++) same &= same_bits(r1[c], r2[c]);
    tu_check(t, same, "bit-identical across runs (scratch %llu bytes)", (unsigned long long)sb);
    free(r1);
    free(r2);

    // Backward: dinp[r, c] += dout[c], into a pre-filled dinp.
    double* g = tu_alloc_d(C);
    double* d = tu_alloc_d(n);
    tu_fill_normal(t, g, C, 1.0);
    tu_fill_normal(t, d, n, 1.0);
    tu_round_f32(g, C);
    tu_round_f32(d, n);
    tu_buf gg = tu_upload_d(t, g, C), gd = tu_upload_d(t, d, n);
    vkd_sum_rows_backward(t->s, gd.addr, gg.addr, N, C);
    tu_run(t);
    vkd_ref_sum_rows_backward(d, g, N, C);
    tu_expect_buf(t, "dinp accumulated", gd, d, 1e-6, 1e-6);
    // Reference gradient vs central differences at up to 24 entries.
    double* grad = tu_alloc_d(n);
    vkd_ref_sum_rows_backward(grad, g, N, C);
    double* out = tu_alloc_d(C);
    rows_fd u = {.x = x, .g = g, .N = N, .C = C, .out = out};
    size_t m = n < 24 ? n : 24;
    double* num = tu_alloc_d(m);
    double* ana = tu_alloc_d(m);
    for (size_t k = 0; k < m; k++) {
        size_t i = m == n ? k : (k * 7919u + 5) % n;
        tu_fd_grad(rows_loss, &u, &x[i], 1, 1e-5, &num[k]);
        ana[k] = grad[i];
    }
    tu_check_close(t, "ref dinp vs finite differences", num, ana, m, 1e-6, 1e-9);

    free(x);
    free(pre);
    free(ref);
    free(g);
    free(d);
    free(grad);
    free(out);
    free(num);
    free(ana);
    tu_free(t, &gx);
    tu_free(t, &scratch);
    tu_free(t, &o1);
    tu_free(t, &o2);
    tu_free(t, &oacc);
    tu_free(t, &gg);
    tu_free(t, &gd);
}

static void bad_args(tu_ctx* t) {
    tu_case(t, "bad arguments");
    vkd_error e = {0};
    tu_buf b = tu_alloc(t, 8);
    vkd_sum_forward(t->s, b.addr, 0, b.addr, 100000, false);
    tu_check(t, vkd_stream_submit(t->s, &e) == VKD_ERR_INVALID, "missing scratch: %s", e.msg);
    vkd_sum_rows_forward(t->s, b.addr, 0, b.addr, 100000, 3, false);
    tu_check(t, vkd_stream_submit(t->s, &e) == VKD_ERR_INVALID, "missing rows scratch: %s", e.msg);
    vkd_mse_loss_forward(t->s, b.addr, 0, b.addr, 0, 5);
    tu_check(t, vkd_stream_submit(t->s, &e) == VKD_ERR_INVALID, "mse without b: %s", e.msg);
    tu_free(t, &b);
}

void test_reduce(tu_ctx* t) {
    const size_t sizes[] = {1, 3, 1000, 4096, 4097, 65539, ((size_t)1 << 20) + 3};
    for (size_t i = 0; i < sizeof sizes / sizeof sizes[0]; i++) {
        sum_mean_case(t, sizes[i], false);
        sum_mean_case(t, sizes[i], true);
        mse_case(t, sizes[i]);
    }
    sum_positive(t, ((size_t)1 << 20) + 3);
    // Past 1024 * 4096 elements: the first pass's workgroup count is capped, each strides more.
    if (!t->quick) sum_positive(t, 5000011);
    empty_cases(t);
    const uint32_t shapes[][2] = {{1, 1}, {1, 5}, {5, 3}, {33, 7}, {1000, 32}, {4099, 3}, {777, 77},
                                  {70000, 37}, {((uint32_t)1 << 20) + 3, 1}, {3000, 1280}};
    for (size_t i = 0; i < sizeof shapes / sizeof shapes[0]; i++) rows_case(t, shapes[i][0], shapes[i][1]);
    bad_args(t);
}
