// Row softmax: rows of 1, 7, 77 and 1024 columns (one element, a partial workgroup, CLIP's
// 77 tokens, several columns per invocation), an inexact scale, the causal mask on (T, T)
// blocks, logits around +-1e3 (exp would overflow without the max subtraction), -inf
// inputs, and in-place use. GPU forward and backward against the float64 reference,
// accumulation into a pre-filled dinp, and the reference backward against central
// differences of the reference forward.
#define _POSIX_C_SOURCE 200809L  // setenv, strdup
#include "harness.h"
#include "vkdream/nn/softmax.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

// The kernels reduce each item (row, group, channel) with a subgroup or a whole workgroup
// (src/nn/reduce_team.h); the device decides, $VKD_TEAM_SG_MAX overrides. Cases run
// with the device's choice and again with workgroups for every item.


typedef struct sm_fd {
    const double *x, *g;
    uint32_t N, C;
    double scale;
    bool causal;
    double* out;
    uint32_t row;  // L restricted to this row: the others do not depend on its inputs
} sm_fd;

static double sm_loss(void* user) {
    sm_fd* u = user;
    size_t o = (size_t)u->row * u->C;
    // Row r of the causal mask depends on r % C; an offset keeps it for the one-row call.
    uint32_t n = u->causal ? u->row % u->C + 1 : 1;
    size_t first = o - (size_t)(n - 1) * u->C;
    vkd_ref_softmax_forward(u->out, u->x + first, n, u->C, u->scale, u->causal);
    return tu_dot(u->out + (size_t)(n - 1) * u->C, u->g + o, u->C);
}

typedef enum { FILL_NORMAL, FILL_LARGE_POS, FILL_LARGE_NEG, FILL_NEG_INF } fill_kind;

static const char* fill_name(fill_kind f) {
    return f == FILL_NORMAL ? "normal" : f == FILL_LARGE_POS ? "~+1e3" : f == FILL_LARGE_NEG ? "~-1e3" : "some -inf";
}

static void sm_case(tu_ctx* t, uint32_t N, uint32_t C, float scale, bool causal, fill_kind fill) {
    tu_case(t, "softmax N=%u C=%u scale=%g%s %s%s", N, C, (double)scale, causal ? " causal" : "", fill_name(fill),
            tu_team_label());
    size_t n = (size_t)N * C;
    double* x = tu_alloc_d(n);
    double* g = tu_alloc_d(n);
    double* pre = tu_alloc_d(n);
    tu_fill_normal(t, x, n, 2.0);
    if (fill == FILL_LARGE_POS || fill == FILL_LARGE_NEG)
        for (size_t i = 0; i < n; i++) x[i] += fill == FILL_LARGE_POS ? 1000.0 : -1000.0;
    if (fill == FILL_NEG_INF)  // every third column, never all of a row (column 1 of each row stays)
        for (size_t i = 0; i < n; i++)
            if (i % C % 3 == 0 && C > 1) x[i] = -INFINITY;
    tu_fill_normal(t, g, n, 1.0);
    tu_fill_normal(t, pre, n, 1.0);
    tu_round_f32(x, n);
    tu_round_f32(g, n);
    tu_round_f32(pre, n);
    const double sc = (double)scale;  // the float32 scale the GPU uses

    tu_buf gx = tu_upload_d(t, x, n), gout = tu_alloc(t, n), ginp = tu_upload_d(t, x, n);
    tu_buf gg = tu_upload_d(t, g, n), gd = tu_upload_d(t, pre, n), gd0 = tu_zeros(t, n);
    vkd_softmax_forward(t->s, gout.addr, gx.addr, N, C, scale, causal);
    vkd_softmax_forward(t->s, ginp.addr, ginp.addr, N, C, scale, causal);  // in place
    vkd_softmax_backward(t->s, gd.addr, gg.addr, gout.addr, N, C, scale);
    vkd_softmax_backward(t->s, gd0.addr, gg.addr, gout.addr, N, C, scale);
    tu_run(t);

    double* out = tu_alloc_d(n);
    double* d0 = tu_alloc_d(n);
    vkd_ref_softmax_forward(out, x, N, C, sc, causal);
    vkd_ref_softmax_backward(d0, g, out, N, C, sc);
    vkd_ref_softmax_backward(pre, g, out, N, C, sc);
    tu_expect_buf(t, "out", gout, out, 1e-5, 1e-7);
    tu_expect_buf(t, "out in place", ginp, out, 1e-5, 1e-7);
    // Rows sum to 1 and masked entries are exactly 0.
    double* got = tu_download_d(t, gout);
    double worst = 0;
    size_t masked_nonzero = 0;
    for (uint32_t r = 0; r < N; r++) {
        double s = 0;
        for (uint32_t c = 0; c < C; c++) {
            s += got[(size_t)r * C + c];
            if (causal && c > r % C && got[(size_t)r * C + c] != 0.0) masked_nonzero++;
        }
        worst = fmax(worst, fabs(s - 1.0));
    }
    tu_check(t, worst < 1e-5 && masked_nonzero == 0, "rows sum to 1 (worst |sum - 1| %.3g), %zu masked nonzero", worst,
             masked_nonzero);
    free(got);
    tu_expect_buf(t, "dinp", gd0, d0, 1e-5, 1e-7);
    tu_expect_buf(t, "dinp accumulated", gd, pre, 1e-5, 1e-6);

    // Reference backward vs central differences at up to 40 finite inputs.
    double* xx = tu_alloc_d(n);
    memcpy(xx, x, n * sizeof *x);
    double* fdout = tu_alloc_d(n);
    sm_fd u = {.x = xx, .g = g, .N = N, .C = C, .scale = sc, .causal = causal, .out = fdout};
    size_t m = 0;
    double num[40], ana[40];
    for (size_t k = 0; k < 4 * 40 && m < 40; k++) {
        size_t i = n <= 40 ? k : (k * 7919u + 3) % n;
        if (i >= n) break;
        if (isinf(xx[i])) continue;
        u.row = (uint32_t)(i / C);
        tu_fd_grad(sm_loss, &u, &xx[i], 1, 1e-6, &num[m]);
        ana[m++] = d0[i];
    }
    tu_check_close(t, "ref dinp vs finite differences", num, ana, m, 1e-6, 1e-9);

    free(x);
    free(g);
    free(pre);
    free(out);
    free(d0);
    free(xx);
    free(fdout);
    tu_free(t, &gx);
    tu_free(t, &gout);
    tu_free(t, &ginp);
    tu_free(t, &gg);
    tu_free(t, &gd);
    tu_free(t, &gd0);
}

// A row of only -inf has no finite maximum: PyTorch gives NaN for all of it, and the
// other rows are unaffected.
static void all_neg_inf_row(tu_ctx* t) {
    tu_case(t, "softmax row of -inf%s", tu_team_label());
    const uint32_t N = 3, C = 5;
    double x[15];
    for (int i = 0; i < 15; i++) x[i] = i / 5 == 1 ? -INFINITY : 0.25 * i;
    tu_buf gx = tu_upload_d(t, x, 15), gout = tu_alloc(t, 15);
    vkd_softmax_forward(t->s, gout.addr, gx.addr, N, C, 1.0f, false);
    tu_run(t);
    double* got = tu_download_d(t, gout);
    double ref[15];
    vkd_ref_softmax_forward(ref, x, N, C, 1.0, false);
    size_t nan_ref = 0, nan_got = 0;
    for (int i = 5; i < 10; i++) nan_ref += isnan(ref[i]) != 0, nan_got += isnan(got[i]) != 0;
    tu_check(t, nan_ref == 5 && nan_got == 5, "row 1 all NaN (reference %zu of 5, GPU %zu of 5)", nan_ref, nan_got);
    tu_check_close(t, "row 0", got, ref, 5, 1e-6, 1e-7);
    tu_check_close(t, "row 2", got + 10, ref + 10, 5, 1e-6, 1e-7);
    free(got);
    tu_free(t, &gx);
    tu_free(t, &gout);
}

static void workgroup_team_cases(tu_ctx* t) {
    sm_case(t, 1, 1, 1.0f, false, FILL_NORMAL);
    sm_case(t, 5, 7, 1.0f, false, FILL_NORMAL);
    sm_case(t, 33, 77, 0.3f, false, FILL_NORMAL);
    sm_case(t, 3, 1024, 1.0f, false, FILL_NORMAL);
    sm_case(t, 2 * 77, 77, 0.125f, true, FILL_NORMAL);
    sm_case(t, 5, 77, 1.0f, false, FILL_LARGE_POS);
    sm_case(t, 6, 77, 1.0f, false, FILL_NEG_INF);
    all_neg_inf_row(t);
    sm_case(t, 4000, 7, 1.0f, false, FILL_NORMAL);
}

void test_softmax(tu_ctx* t) {
    const uint32_t shapes[][2] = {{1, 1}, {4, 1}, {5, 7}, {33, 77}, {3, 1024}, {2, 3000}};
    for (size_t i = 0; i < sizeof shapes / sizeof shapes[0]; i++)
        sm_case(t, shapes[i][0], shapes[i][1], 1.0f, false, FILL_NORMAL);
    sm_case(t, 33, 77, 0.3f, false, FILL_NORMAL);  // 0.3 is inexact in float32
    // Causal: N = blocks * T rows of T columns.
    sm_case(t, 3 * 7, 7, 1.0f, true, FILL_NORMAL);
    sm_case(t, 2 * 77, 77, 0.125f, true, FILL_NORMAL);
    sm_case(t, 1, 1, 1.0f, true, FILL_NORMAL);
    if (!t->quick) sm_case(t, 2 * 300, 300, 0.125f, true, FILL_NORMAL);
    // Numerical stability: logits ~ +-1e3 (also after a scale), -inf inputs.
    sm_case(t, 5, 77, 1.0f, false, FILL_LARGE_POS);
    sm_case(t, 5, 1024, 1.0f, false, FILL_LARGE_NEG);
    sm_case(t, 3 * 7, 7, 1.0f, true, FILL_LARGE_POS);
    sm_case(t, 4, 77, 8.0f, false, FILL_LARGE_NEG);
    sm_case(t, 6, 77, 1.0f, false, FILL_NEG_INF);
    all_neg_inf_row(t);
    // Many rows: the row count is spread over the grid's x and y.
    sm_case(t, t->quick ? 4000 : 70000, 7, 1.0f, false, FILL_NORMAL);
    // More than 65535 workgroups even at 32 rows (subgroups of 8) per workgroup.
    if (!t->quick) sm_case(t, 2100000, 2, 1.0f, false, FILL_NORMAL);
    tu_with_workgroup_teams(t, workgroup_team_cases);
}
