// Float64 reference of the hash-grid NeRF field (vkdream/hashgrid.h).
#include "vkdream/hashgrid.h"

#include <math.h>
#include <stdlib.h>

static double bias_of(const vkd_nerf_field_desc* d, const double* x, double grad[3]) {
    grad[0] = grad[1] = grad[2] = 0;
    double r2 = x[0] * x[0] + x[1] * x[1] + x[2] * x[2], R = d->blob_radius, B = d->blob_density;
    switch (d->density_bias) {
        case VKD_NERF_BIAS_BLOB_MAGIC3D: {
            double r = sqrt(r2);
            if (r > 0)
                for (int k = 0; k < 3; k++) grad[k] = -B / R * x[k] / r;
            return B * (1 - r / R);
        }
        case VKD_NERF_BIAS_BLOB_DREAMFUSION: {
            double b = B * exp(-0.5 * r2 / (R * R));
            for (int k = 0; k < 3; k++) grad[k] = -b * x[k] / (R * R);
            return b;
        }
        case VKD_NERF_BIAS_CONSTANT:
            return B;
        default:
            return 0;
    }
}

static double density_act(vkd_nerf_density_activation a, double z) {
    if (a == VKD_NERF_DENSITY_SOFTPLUS) return z > 20 ? z : log1p(exp(z));
    return exp(z);
}

static double density_act_grad(vkd_nerf_density_activation a, double z) {
    if (a == VKD_NERF_DENSITY_SOFTPLUS) return 1 / (1 + exp(-z));
    if (a == VKD_NERF_DENSITY_TRUNC_EXP) return exp(z < 15 ? z : 15);
    return exp(z);
}

static double sigmoid(double v) { return 1 / (1 + exp(-v)); }

typedef struct ref_state {
    vkd_nerf_field_desc d;
    vkd_nerf_field_layout l;
    uint32_t W, od;
    bool sep;
    double *enc, *out_d, *out_f;
} ref_state;

static void ref_forward_state(ref_state* st, const double* params, const double* positions, uint64_t n, bool color,
                              const vkd_nerf_field_desc* desc) {
    vkd_nerf_field_resolve(desc, &st->d, NULL);
    vkd_nerf_field_get_layout(&st->d, &st->l);
    st->W = st->d.grid.levels * st->d.grid.features;
    st->od = st->l.density_mlp.out;
    st->sep = st->d.mlp_layout == VKD_NERF_MLP_SEPARATE;
    st->enc = calloc(n * st->W + 1, sizeof(double));
    st->out_d = calloc(n * st->od + 1, sizeof(double));
    st->out_f = calloc(n * 3 + 1, sizeof(double));
    vkd_ref_hashgrid_forward(st->enc, positions, params + st->l.grid_offset, n, &st->d.grid);
    vkd_ref_mlp_forward(st->out_d, st->enc, params + st->l.density_mlp_offset, n, &st->l.density_mlp);
    if (st->sep && color)
        vkd_ref_mlp_forward(st->out_f, st->enc, params + st->l.feature_mlp_offset, n, &st->l.feature_mlp);
}

static void ref_free_state(ref_state* st) {
    free(st->enc);
    free(st->out_d);
    free(st->out_f);
}

static const double* feature_row(const ref_state* st, uint64_t i) {
    return st->sep ? st->out_f + 3 * i : st->out_d + i * st->od + 1;
}

void vkd_ref_nerf_field_forward(double* density, double* rgb, const double* params, const double* positions, uint64_t n,
                                const vkd_nerf_field_desc* desc) {
    ref_state st;
    ref_forward_state(&st, params, positions, n, rgb != NULL, desc);
    for (uint64_t i = 0; i < n; i++) {
        double g[3];
        double z = st.out_d[i * st.od] + bias_of(&st.d, positions + 3 * i, g);
        if (density) density[i] = density_act(st.d.density_activation, z);
        if (rgb)
            for (int c = 0; c < 3; c++) rgb[3 * i + c] = sigmoid(feature_row(&st, i)[c]);
    }
    ref_free_state(&st);
}

void vkd_ref_nerf_field_backward(double* d_params, double* d_positions, const double* d_density, const double* d_rgb,
                                 const double* params, const double* positions, uint64_t n,
                                 const vkd_nerf_field_desc* desc) {
    ref_state st;
    ref_forward_state(&st, params, positions, n, d_rgb != NULL, desc);
    double* dout_d = calloc(n * st.od + 1, sizeof(double));
    double* dout_f = calloc(n * 3 + 1, sizeof(double));
    double* d_enc = calloc(n * st.W + 1, sizeof(double));
    for (uint64_t i = 0; i < n; i++) {
        double g[3];
        double z = st.out_d[i * st.od] + bias_of(&st.d, positions + 3 * i, g);
        double dz = (d_density ? d_density[i] : 0) * density_act_grad(st.d.density_activation, z);
        dout_d[i * st.od] = dz;
        if (d_positions)
            for (int k = 0; k < 3; k++) d_positions[3 * i + k] += dz * g[k];
        if (d_rgb) {
            double* df = st.sep ? dout_f + 3 * i : dout_d + i * st.od + 1;
            for (int c = 0; c < 3; c++) {
                double s = sigmoid(feature_row(&st, i)[c]);
                df[c] = d_rgb[3 * i + c] * s * (1 - s);
            }
        }
    }
    vkd_ref_mlp_backward(d_enc, d_params ? d_params + st.l.density_mlp_offset : NULL, dout_d, st.enc,
                         params + st.l.density_mlp_offset, n, &st.l.density_mlp);
    if (st.sep && d_rgb)
        vkd_ref_mlp_backward(d_enc, d_params ? d_params + st.l.feature_mlp_offset : NULL, dout_f, st.enc,
                             params + st.l.feature_mlp_offset, n, &st.l.feature_mlp);
    vkd_ref_hashgrid_backward(d_positions, d_params ? d_params + st.l.grid_offset : NULL, d_enc, positions,
                              params + st.l.grid_offset, n, &st.d.grid);
    free(dout_d);
    free(dout_f);
    free(d_enc);
    ref_free_state(&st);
}

// The six clamped offsets of each point, rows 6 i + 2 k (+ eps) and 6 i + 2 k + 1 (- eps). The
// offsets are rounded to float32 as the GPU computes them.
static double* fd_points(const double* positions, uint64_t n, double eps, const vkd_nerf_field_desc* d) {
    double* p = malloc(18 * n * sizeof *p + 1);
    for (uint64_t i = 0; i < n; i++)
        for (int k = 0; k < 3; k++)
            for (int side = 0; side < 2; side++) {
                double* y = p + 3 * (6 * i + 2 * k + side);
                for (int c = 0; c < 3; c++) y[c] = positions[3 * i + c];
                y[k] = (float)((float)y[k] + (float)(side ? -eps : eps));
                for (int c = 0; c < 3; c++) y[c] = fmin(fmax(y[c], -(double)d->bound), (double)d->bound);
            }
    return p;
}

void vkd_ref_nerf_field_fd_grad_forward(double* grad, const double* params, const double* positions, uint64_t n,
                                        double eps, const vkd_nerf_field_desc* desc) {
    vkd_nerf_field_desc d;
    vkd_nerf_field_resolve(desc, &d, NULL);
    double* p = fd_points(positions, n, eps, &d);
    double* dens = malloc(6 * n * sizeof *dens + 1);
    vkd_ref_nerf_field_forward(dens, NULL, params, p, 6 * n, &d);
    for (uint64_t i = 0; i < n; i++)
        for (int k = 0; k < 3; k++) grad[3 * i + k] = (dens[6 * i + 2 * k] - dens[6 * i + 2 * k + 1]) * (0.5 / eps);
    free(p);
    free(dens);
}

void vkd_ref_nerf_field_fd_grad_backward(double* d_params, const double* d_grad, const double* params,
                                         const double* positions, uint64_t n, double eps,
                                         const vkd_nerf_field_desc* desc) {
    vkd_nerf_field_desc d;
    vkd_nerf_field_resolve(desc, &d, NULL);
    double* p = fd_points(positions, n, eps, &d);
    double* dd = malloc(6 * n * sizeof *dd + 1);
    for (uint64_t i = 0; i < n; i++)
        for (int k = 0; k < 3; k++) {
            dd[6 * i + 2 * k] = d_grad[3 * i + k] * (0.5 / eps);
            dd[6 * i + 2 * k + 1] = -d_grad[3 * i + k] * (0.5 / eps);
        }
    vkd_ref_nerf_field_backward(d_params, NULL, dd, NULL, params, p, 6 * n, &d);
    free(p);
    free(dd);
}
