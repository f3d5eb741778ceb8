// Float64 reference of the fused MLP (vkdream/mlp.h).
#include "vkdream/mlp.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

static double act_fwd(vkd_mlp_activation a, double v) {
    if (a == VKD_MLP_ACT_RELU) return v > 0 ? v : 0;
    if (a == VKD_MLP_ACT_SIGMOID) return 1 / (1 + exp(-v));
    return v;
}

static double act_grad(vkd_mlp_activation a, double y) {
    if (a == VKD_MLP_ACT_RELU) return y > 0 ? 1 : 0;
    if (a == VKD_MLP_ACT_SIGMOID) return y * (1 - y);
    return 1;
}

// One row forward; acts[l] = output of layer l (hidden layers after ReLU, the last after act).
static void row_forward(double** acts, const double* x, const double* params, const vkd_mlp_desc* d) {
    const double* in = x;
    uint32_t in_w = d->in;
    for (uint32_t l = 0; l <= d->hidden_layers; l++) {
        uint32_t out_w = l == d->hidden_layers ? d->out : d->hidden;
        uint64_t w_off, b_off;
        vkd_mlp_layer_offsets(d, l, &w_off, &b_off);
        for (uint32_t j = 0; j < out_w; j++) {
            double z = d->bias ? params[b_off + j] : 0;
            for (uint32_t k = 0; k < in_w; k++) z += params[w_off + (uint64_t)j * in_w + k] * in[k];
            acts[l][j] = l == d->hidden_layers ? act_fwd(d->output_activation, z) : (z > 0 ? z : 0);
        }
        in = acts[l];
        in_w = out_w;
    }
}

static double** alloc_acts(const vkd_mlp_desc* d) {
    double** a = calloc(d->hidden_layers + 2, sizeof *a);
    uint32_t w = d->hidden > d->out ? d->hidden : d->out;
    if (d->in > w) w = d->in;
    for (uint32_t l = 0; l <= d->hidden_layers + 1; l++) a[l] = calloc(w, sizeof **a);
    return a;
}

static void free_acts(double** a, const vkd_mlp_desc* d) {
    for (uint32_t l = 0; l <= d->hidden_layers + 1; l++) free(a[l]);
    free(a);
}

void vkd_ref_mlp_forward(double* out, const double* inp, const double* params, uint64_t n, const vkd_mlp_desc* desc) {
    vkd_mlp_desc d;
    vkd_mlp_resolve(desc, &d, NULL);
    double** acts = alloc_acts(&d);
    for (uint64_t i = 0; i < n; i++) {
        row_forward(acts, inp + i * d.in, params, &d);
        memcpy(out + i * d.out, acts[d.hidden_layers], d.out * sizeof *out);
    }
    free_acts(acts, &d);
}

void vkd_ref_mlp_backward(double* d_inp, double* d_params, const double* dout, const double* inp, const double* params,
                          uint64_t n, const vkd_mlp_desc* desc) {
    vkd_mlp_desc d;
    vkd_mlp_resolve(desc, &d, NULL);
    double** acts = alloc_acts(&d);
    uint32_t w = d.hidden > d.out ? d.hidden : d.out;
    if (d.in > w) w = d.in;
    double* dz = calloc(w, sizeof *dz);
    double* dh = calloc(w, sizeof *dh);
    for (uint64_t i = 0; i < n; i++) {
        const double* x = inp + i * d.in;
        row_forward(acts, x, params, &d);
        uint32_t L = d.hidden_layers;
        for (uint32_t j = 0; j < d.out; j++) dz[j] = dout[i * d.out + j] * act_grad(d.output_activation, acts[L][j]);
        for (uint32_t l = L + 1; l-- > 0;) {
            uint32_t in_w = l == 0 ? d.in : d.hidden, out_w = l == L ? d.out : d.hidden;
            const double* a = l == 0 ? x : acts[l - 1];
            uint64_t w_off, b_off;
            vkd_mlp_layer_offsets(&d, l, &w_off, &b_off);
            if (d_params)
                for (uint32_t j = 0; j < out_w; j++) {
                    for (uint32_t k = 0; k < in_w; k++) d_params[w_off + (uint64_t)j * in_w + k] += dz[j] * a[k];
                    if (d.bias) d_params[b_off + j] += dz[j];
                }
            for (uint32_t k = 0; k < in_w; k++) {
                double g = 0;
                for (uint32_t j = 0; j < out_w; j++) g += params[w_off + (uint64_t)j * in_w + k] * dz[j];
                dh[k] = g;
            }
            if (l == 0) {
                if (d_inp)
                    for (uint32_t k = 0; k < in_w; k++) d_inp[i * d.in + k] += dh[k];
            } else {
                for (uint32_t k = 0; k < in_w; k++) dz[k] = acts[l - 1][k] > 0 ? dh[k] : 0;
            }
        }
    }
    free(dz);
    free(dh);
    free_acts(acts, &d);
}
