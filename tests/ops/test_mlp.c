// Fused MLP (vkdream/mlp.h): GPU forward / backward vs the float64 reference, the reference
// backward vs central finite differences of the reference forward, accumulation into
// pre-filled gradients, and the partial paths (inference only, d input only, d params only).
#include "harness.h"
#include "vkdream/mlp.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>


// Smallest |pre-activation| of the hidden layers for one row (float64).
static double min_abs_preact(const double* x, const double* params, const vkd_mlp_desc* d) {
    double a[VKD_MLP_MAX_WIDTH], z[VKD_MLP_MAX_WIDTH], m = INFINITY;
    memcpy(a, x, d->in * sizeof *a);
    uint32_t in_w = d->in;
    for (uint32_t l = 0; l < d->hidden_layers; l++) {
        uint64_t wo, bo;
        vkd_mlp_layer_offsets(d, l, &wo, &bo);
        for (uint32_t j = 0; j < d->hidden; j++) {
            z[j] = d->bias ? params[bo + j] : 0;
            for (uint32_t k = 0; k < in_w; k++) z[j] += params[wo + (uint64_t)j * in_w + k] * a[k];
            if (fabs(z[j]) < m) m = fabs(z[j]);
        }
        for (uint32_t j = 0; j < d->hidden; j++) a[j] = z[j] > 0 ? z[j] : 0;
        in_w = d->hidden;
    }
    return m;
}

// Redraws the input rows whose hidden pre-activations come within 1e-4 of the ReLU kink: float32
// rounding may put those on the other side on the GPU, which changes the gradient by O(1).
static void avoid_kinks(tu_ctx* t, double* x, const double* params, uint32_t n, const vkd_mlp_desc* d) {
    for (uint32_t i = 0; i < n; i++)
        for (int tries = 0; tries < 100 && min_abs_preact(x + (size_t)i * d->in, params, d) < 1e-4; tries++) {
            tu_fill_normal(t, x + (size_t)i * d->in, d->in, 1.0);
            tu_round_f32(x + (size_t)i * d->in, d->in);
        }
}

typedef struct fd_ctx {
    const vkd_mlp_desc* d;
    const double *x, *params, *g;
    double* out;
    uint64_t n;
} fd_ctx;

static double loss(void* user) {
    fd_ctx* c = user;
    vkd_ref_mlp_forward(c->out, c->x, c->params, c->n, c->d);
    return tu_dot(c->out, c->g, c->n * c->d->out);
}

// Central differences of `loss` at the chosen indices of v; compares with grad (the reference backward).
static void fd_check(tu_ctx* t, const char* what, fd_ctx* c, double* v, size_t count, const double* grad,
                     size_t probes) {
    double max_err = 0, max_ref = 0;
    size_t worst = 0;
    for (size_t p = 0; p < probes; p++) {
        size_t i = probes >= count ? p : (size_t)tu_uniform(t, 0, (double)count);
        if (i >= count) break;
        double v0 = v[i], h = 1e-6;
        v[i] = v0 + h;
        double fp = loss(c);
        v[i] = v0 - h;
        double fm = loss(c);
        v[i] = v0;
        double fd = (fp - fm) / (2 * h);
        double e = fabs(fd - grad[i]);
        if (e > max_err) max_err = e, worst = i;
        if (fabs(grad[i]) > max_ref) max_ref = fabs(grad[i]);
    }
    tu_check(t, max_err <= 1e-6 * (1 + max_ref), "%s: reference backward vs FD: max|d| = %.3g at %zu (max|g| %.3g)",
             what, max_err, worst, max_ref);
}

static void mlp_case_k(tu_ctx* t, uint32_t n, uint32_t in, uint32_t hidden, uint32_t layers, uint32_t out, bool bias,
                       vkd_mlp_activation act, vkd_mlp_kernel kernel) {
    vkd_mlp_desc d = {.in = in,
                      .out = out,
                      .hidden = hidden,
                      .hidden_layers = layers,
                      .bias = bias,
                      .output_activation = act,
                      .kernel = kernel};
    tu_case(t, "mlp n=%u %u->%ux%u->%u bias=%d act=%d kernel=%d", n, in, hidden, layers, out, bias, (int)act,
            (int)kernel);
    size_t P = vkd_mlp_param_count(&d);
    float* pf = malloc(P * sizeof *pf);
    vkd_mlp_init_params(pf, &d, 1234 + n);
    double* params = tu_alloc_d(P);
    for (size_t i = 0; i < P; i++) params[i] = pf[i];
    free(pf);
    double* x = tu_alloc_d((size_t)n * in);
    tu_fill_normal(t, x, (size_t)n * in, 1.0);
    tu_round_f32(x, (size_t)n * in);
    avoid_kinks(t, x, params, n, &d);
    double* g = tu_alloc_d((size_t)n * out);
    tu_fill_normal(t, g, (size_t)n * out, 1.0);
    tu_round_f32(g, (size_t)n * out);

    tu_buf gp = tu_upload_d(t, params, P), gx = tu_upload_d(t, x, (size_t)n * in);
    tu_buf gy = tu_alloc(t, (size_t)n * out), gy2 = tu_alloc(t, (size_t)n * out);
    tu_buf gs = tu_alloc(t, vkd_mlp_saved_floats(&d, n));
    tu_buf gg = tu_upload_d(t, g, (size_t)n * out);
    double* dx_pre = tu_alloc_d((size_t)n * in);
    double* dp_pre = tu_alloc_d(P);
    tu_fill_normal(t, dx_pre, (size_t)n * in, 1.0);
    tu_fill_normal(t, dp_pre, P, 1.0);
    tu_round_f32(dx_pre, (size_t)n * in);
    tu_round_f32(dp_pre, P);
    tu_buf gdx = tu_upload_d(t, dx_pre, (size_t)n * in), gdp = tu_upload_d(t, dp_pre, P);
    tu_buf gdx_only = tu_zeros(t, (size_t)n * in), gdp_only = tu_zeros(t, P);
    tu_buf scratch = tu_alloc(t, vkd_mlp_backward_scratch_bytes(&d, n) / 4);

    vkd_mlp_forward(t->s, gy.addr, gs.addr, gx.addr, gp.addr, n, &d);
    vkd_mlp_forward(t->s, gy2.addr, 0, gx.addr, gp.addr, n, &d);  // inference only
    vkd_mlp_backward(t->s, gdx.addr, gdp.addr, gg.addr, gy.addr, gs.addr, gx.addr, gp.addr, n, &d, scratch.addr);
    vkd_mlp_backward(t->s, gdx_only.addr, 0, gg.addr, gy.addr, gs.addr, gx.addr, gp.addr, n, &d, scratch.addr);
    vkd_mlp_backward(t->s, 0, gdp_only.addr, gg.addr, gy.addr, gs.addr, gx.addr, gp.addr, n, &d, scratch.addr);
    tu_run(t);

    double* y = tu_alloc_d((size_t)n * out);
    vkd_ref_mlp_forward(y, x, params, n, &d);
    tu_expect_buf(t, "out", gy, y, 1e-5, 1e-6);
    tu_expect_buf(t, "out (inference)", gy2, y, 1e-5, 1e-6);

    double* dx = tu_alloc_d((size_t)n * in);
    double* dp = tu_alloc_d(P);
    vkd_ref_mlp_backward(dx, dp, g, x, params, n, &d);
    double* acc = tu_alloc_d(P > (size_t)n * in ? P : (size_t)n * in);
    for (size_t i = 0; i < (size_t)n * in; i++) acc[i] = dx_pre[i] + dx[i];
    tu_expect_buf(t, "d_inp (accumulated)", gdx, acc, 2e-5, 1e-6);
    for (size_t i = 0; i < P; i++) acc[i] = dp_pre[i] + dp[i];
    tu_expect_buf(t, "d_params (accumulated)", gdp, acc, 2e-5, 1e-6);
    tu_expect_buf(t, "d_inp (alone)", gdx_only, dx, 2e-5, 1e-6);
    tu_expect_buf(t, "d_params (alone)", gdp_only, dp, 2e-5, 1e-6);
    free(acc);

    // Finite differences of the reference on a small slice of the batch (the loss is a sum over rows).
    uint32_t nf = n < 7 ? n : 7;
    double* dxf = tu_alloc_d((size_t)nf * in);
    double* dpf = tu_alloc_d(P);
    vkd_ref_mlp_backward(dxf, dpf, g, x, params, nf, &d);
    double* yf = tu_alloc_d((size_t)nf * out);
    fd_ctx c = {.d = &d, .x = x, .params = params, .g = g, .out = yf, .n = nf};
    fd_check(t, "d_inp", &c, x, (size_t)nf * in, dxf, 48);
    fd_check(t, "d_params", &c, params, P, dpf, 64);
    free(dxf);
    free(dpf);
    free(yf);

    free(params);
    free(x);
    free(g);
    free(y);
    free(dx);
    free(dp);
    free(dx_pre);
    free(dp_pre);
    tu_buf* bufs[] = {&gp, &gx, &gy, &gy2, &gs, &gg, &gdx, &gdp, &gdx_only, &gdp_only, &scratch};
    for (size_t i = 0; i < sizeof bufs / sizeof bufs[0]; i++) tu_free(t, bufs[i]);
}

static void mlp_case(tu_ctx* t, uint32_t n, uint32_t in, uint32_t hidden, uint32_t layers, uint32_t out, bool bias,
                     vkd_mlp_activation act) {
    mlp_case_k(t, n, in, hidden, layers, out, bias, act, VKD_MLP_KERNEL_AUTO);
}

// Bad descriptions fail the stream with VKD_ERR_INVALID and record nothing.
static void invalid_desc(tu_ctx* t) {
    tu_case(t, "mlp invalid desc");
    const vkd_mlp_desc bad[] = {{.in = 0, .out = 1},
                                {.in = 4, .out = 129},
                                {.in = 4, .out = 1, .hidden = 30},
                                {.in = 4, .out = 1, .hidden_layers = 9}};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        vkd_mlp_forward(t->s, 256, 0, 256, 256, 1, &bad[i]);
        vkd_error err = {0};
        vkd_status st = vkd_stream_submit(t->s, &err);
        tu_check(t, st == VKD_ERR_INVALID, "desc %zu rejected: %s", i, err.msg);
    }
}

void test_mlp(tu_ctx* t) {
    invalid_desc(t);
    // Both data-movement variants, each with resident weights (35->64->1) and per-layer
    // reloads (32->64x2->16 does not fit 32 KiB of shared memory at once).
    mlp_case_k(t, 1003, 32, 64, 2, 16, true, VKD_MLP_ACT_NONE, VKD_MLP_KERNEL_COOPERATIVE);
    mlp_case_k(t, 1003, 35, 64, 1, 1, true, VKD_MLP_ACT_NONE, VKD_MLP_KERNEL_COOPERATIVE);
    mlp_case_k(t, 1003, 35, 64, 1, 1, true, VKD_MLP_ACT_NONE, VKD_MLP_KERNEL_PER_ROW);
    const uint32_t ns[] = {1, 7, 1003};
    for (size_t i = 0; i < 3; i++) {
        mlp_case(t, ns[i], 32, 64, 2, 16, false, VKD_MLP_ACT_NONE);
        mlp_case(t, ns[i], 35, 64, 1, 1, true, VKD_MLP_ACT_NONE);
    }
    mlp_case(t, 33, 32, 64, 1, 3, true, VKD_MLP_ACT_SIGMOID);
    mlp_case(t, 65, 3, 16, 3, 5, true, VKD_MLP_ACT_RELU);
    mlp_case(t, 129, 48, 32, 1, 16, false, VKD_MLP_ACT_NONE);
    if (!t->quick) mlp_case(t, 70001, 32, 64, 2, 16, true, VKD_MLP_ACT_NONE);  // several row chunks
}
