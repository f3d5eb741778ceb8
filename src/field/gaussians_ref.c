// Plain C references (float64) of the Gaussian model kernels, for the tests.
#include "field/gaussians_internal.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

static double uniform(uint32_t seed, uint32_t parent, uint32_t j) {
    uint32_t h = vkd_gaussians_pcg(vkd_gaussians_pcg(vkd_gaussians_pcg(seed) + parent) + j);
    return ((double)(h >> 8) + 0.5) * (1.0 / 16777216.0);
}

void vkd_ref_gaussians_normal3(double out[3], uint32_t seed, uint32_t parent, uint32_t child) {
    const double tau = 6.283185307179586;
    uint32_t j = child * 4;
    double r0 = sqrt(-2.0 * log(uniform(seed, parent, j))), a0 = tau * uniform(seed, parent, j + 1);
    double r1 = sqrt(-2.0 * log(uniform(seed, parent, j + 2))), a1 = tau * uniform(seed, parent, j + 3);
    out[0] = r0 * cos(a0);
    out[1] = r0 * sin(a0);
    out[2] = r1 * cos(a1);
}

// Row-major R of the normalized quaternion (w, x, y, z); identity for a zero quaternion.
static void rotation(double R[9], const double q[4]) {
    double n = sqrt(q[0] * q[0] + q[1] * q[1] + q[2] * q[2] + q[3] * q[3]);
    if (n == 0) {
        static const double I[9] = {1, 0, 0, 0, 1, 0, 0, 0, 1};
        memcpy(R, I, sizeof I);
        return;
    }
    double r = q[0] / n, x = q[1] / n, y = q[2] / n, z = q[3] / n;
    R[0] = 1 - 2 * (y * y + z * z), R[1] = 2 * (x * y - r * z), R[2] = 2 * (x * z + r * y);
    R[3] = 2 * (x * y + r * z), R[4] = 1 - 2 * (x * x + z * z), R[5] = 2 * (y * z - r * x);
    R[6] = 2 * (x * z - r * y), R[7] = 2 * (y * z + r * x), R[8] = 1 - 2 * (x * x + y * y);
}

// Copies row i of a packed array of `count` rows to row j of one of `out_count` rows.
static void copy_row(double* dst, uint32_t out_count, uint32_t j, const double* src, uint32_t count, uint32_t i,
                     int deg, bool zero) {
    if (!dst) return;
    for (int grp = 0; grp < VKD_GAUSSIANS_GROUP_COUNT; grp++) {
        uint32_t w = vkd_gaussians_group_width((vkd_gaussians_group)grp, deg);
        double* d = dst + vkd_gaussians_group_offset((vkd_gaussians_group)grp, out_count, deg) + (size_t)j * w;
        const double* s = src + vkd_gaussians_group_offset((vkd_gaussians_group)grp, count, deg) + (size_t)i * w;
        for (uint32_t c = 0; c < w; c++) d[c] = zero ? 0.0 : s[c];
    }
}

uint32_t vkd_ref_gaussians_densify(double* out_params, double* out_grads, double* out_m, double* out_v,
                                   uint32_t* flags_out, const double* params, const double* grads, const double* m,
                                   const double* v, const double* grad2d_norm, const double* vis_count,
                                   const double* max_radius, uint32_t count, int deg, double extent,
                                   const vkd_gaussians_densify_desc* desc,
                                   uint32_t seed) {
    vkd_gaussians_densify_desc d = desc ? *desc : (vkd_gaussians_densify_desc){0};
    double threshold = d.grad_threshold != 0 ? d.grad_threshold : 0.0002;
    double percent_dense = d.percent_dense != 0 ? d.percent_dense : 0.01;
    double min_opacity = d.min_opacity != 0 ? d.min_opacity : 0.005;
    double max_scale = d.max_scale != 0 ? d.max_scale : 0.1;
    double max_screen = d.no_size_prune ? 0 : d.max_screen_radius;
    const double split_div = 1.6;
    const double* ls_all = params + vkd_gaussians_group_offset(VKD_GAUSSIANS_LOG_SCALES, count, deg);
    const double* logit_all = params + vkd_gaussians_group_offset(VKD_GAUSSIANS_OPACITY, count, deg);

    uint32_t* flags = calloc(count ? count : 1, sizeof *flags);
    uint32_t total = 0;
    for (uint32_t i = 0; i < count; i++) {
        const double* ls = ls_all + 3 * (size_t)i;
        double smax = exp(fmax(ls[0], fmax(ls[1], ls[2])));
        double opacity = 1 / (1 + exp(-logit_all[i]));
        double grad = vis_count[i] > 0 ? grad2d_norm[i] / vis_count[i] : 0;
        bool dens = !d.prune_only && grad >= threshold;
        bool clone = dens && smax <= percent_dense * extent, split = dens && !clone;
        bool low = opacity < min_opacity;
        // Clones and children inherit the parent's screen radius (gsplat's running state).
        bool screen_big = max_screen > 0 && max_radius && max_radius[i] > max_screen;
        bool prune_self = low || screen_big || (!d.no_size_prune && smax > max_scale * extent);
        bool prune_child = low || screen_big || (!d.no_size_prune && smax / split_div > max_scale * extent);
        uint32_t f = 0;
        if (!split && !prune_self) f |= VKD_GAUSSIANS_KEEP, total++;
        if (clone && !prune_self) f |= VKD_GAUSSIANS_CLONE, total++;
        if (split) f |= VKD_GAUSSIANS_SPLIT;
        if (split && !prune_child) f |= VKD_GAUSSIANS_CHILDREN, total += 2;
        flags[i] = f;
    }

    uint32_t j = 0;
    for (uint32_t i = 0; i < count; i++) {
        uint32_t f = flags[i];
        if (f & VKD_GAUSSIANS_KEEP) {
            copy_row(out_params, total, j, params, count, i, deg, false);
            copy_row(out_grads, total, j, grads, count, i, deg, false);
            copy_row(out_m, total, j, m, count, i, deg, false);
            copy_row(out_v, total, j, v, count, i, deg, false);
            j++;
        }
        if (f & VKD_GAUSSIANS_CLONE) {
            copy_row(out_params, total, j, params, count, i, deg, false);
            copy_row(out_grads, total, j, grads, count, i, deg, true);
            copy_row(out_m, total, j, m, count, i, deg, true);
            copy_row(out_v, total, j, v, count, i, deg, true);
            j++;
        }
        if (!(f & VKD_GAUSSIANS_CHILDREN)) continue;
        const double* mean = params + vkd_gaussians_group_offset(VKD_GAUSSIANS_MEANS, count, deg) + 3 * (size_t)i;
        const double* ls = ls_all + 3 * (size_t)i;
        const double* q = params + vkd_gaussians_group_offset(VKD_GAUSSIANS_QUATS, count, deg) + 4 * (size_t)i;
        double R[9];
        rotation(R, q);
        for (uint32_t c = 0; c < 2; c++, j++) {
            copy_row(out_params, total, j, params, count, i, deg, false);
            copy_row(out_grads, total, j, grads, count, i, deg, true);
            copy_row(out_m, total, j, m, count, i, deg, true);
            copy_row(out_v, total, j, v, count, i, deg, true);
            double z[3], local[3];
            vkd_ref_gaussians_normal3(z, seed, i, c);
            for (int a = 0; a < 3; a++) local[a] = exp(ls[a]) * z[a];
            double* om = out_params + vkd_gaussians_group_offset(VKD_GAUSSIANS_MEANS, total, deg) + 3 * (size_t)j;
            double* ol = out_params + vkd_gaussians_group_offset(VKD_GAUSSIANS_LOG_SCALES, total, deg) + 3 * (size_t)j;
            for (int a = 0; a < 3; a++) {
                om[a] = mean[a] + R[3 * a] * local[0] + R[3 * a + 1] * local[1] + R[3 * a + 2] * local[2];
                ol[a] = log(exp(ls[a]) / split_div);
            }
        }
    }
    if (flags_out) memcpy(flags_out, flags, count * sizeof *flags);
    free(flags);
    return total;
}
