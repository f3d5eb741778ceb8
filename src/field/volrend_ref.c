// Volume rendering: plain C reference in float64, the ground truth of tests/ops/test_volrend.c.
// Exception: the marcher's sample/no-sample decisions are made in float32 with the GPU's exact
// operation order, so both emit the same sample set (see vkd_ref_volrend_march).
#include "vkdream/volrend.h"
#include "field/volrend.h"

#include <math.h>
#include <stdlib.h>

void vkd_ref_volrend_rays(double* origins, double* dirs, double* near_far, const vkd_camera* cams, uint32_t views,
                          double radius) {
    if (!(radius > 0)) radius = 1.0;
    uint64_t r = 0;
    for (uint32_t b = 0; b < views; b++) {
        const vkd_camera* c = &cams[b];
        const float* m = c->viewmat;
        double o[3];
        for (int i = 0; i < 3; i++)
            o[i] = -((double)m[0 * 4 + i] * m[3] + (double)m[1 * 4 + i] * m[7] + (double)m[2 * 4 + i] * m[11]);
        for (int y = 0; y < c->height; y++) {
            for (int x = 0; x < c->width; x++, r++) {
                double u = (x + 0.5 - c->cx) / c->fx, v = (y + 0.5 - c->cy) / c->fy;
                double d[3], len = 0;
                for (int i = 0; i < 3; i++) {
                    d[i] = (double)m[0 * 4 + i] * u + (double)m[1 * 4 + i] * v + (double)m[2 * 4 + i];
                    len += d[i] * d[i];
                }
                len = sqrt(len);
                double bq = 0, cq = -radius * radius;
                for (int i = 0; i < 3; i++) {
                    d[i] /= len;
                    bq += o[i] * d[i];
                    cq += o[i] * o[i];
                    origins[3 * r + i] = o[i];
                    dirs[3 * r + i] = d[i];
                }
                double disc = bq * bq - cq, tn = 0, tf = 0;
                if (disc > 0) {
                    double h = sqrt(disc);
                    if (-bq + h > 0) {
                        tn = fmax(-bq - h, 0.0);
                        tf = -bq + h;
                    }
                }
                near_far[2 * r] = tn;
                near_far[2 * r + 1] = tf;
            }
        }
    }
}

// ---------------------------------------------------------------------------
// Marching. float32 on purpose: these lines mirror shaders/field/volrend_march.glsl operation
// by operation (C11 without GNU extensions contracts no fma; x86-64 evaluates float in float).

static bool ref_occupied(const float pos[3], const uint32_t* bits, uint32_t res, float radius, float inv_cell) {
    if (!bits) return true;
    int c[3];
    for (int i = 0; i < 3; i++) {
        float q = (pos[i] + radius) * inv_cell;
        int v = (int)floorf(q);
        c[i] = v < 0 ? 0 : v > (int)res - 1 ? (int)res - 1 : v;
    }
    uint32_t idx = ((uint32_t)c[0] * res + (uint32_t)c[1]) * res + (uint32_t)c[2];
    return (bits[idx >> 5] >> (idx & 31)) & 1u;
}

uint64_t vkd_ref_volrend_march(uint32_t* offsets, double* positions, double* sdirs, double* intervals, uint32_t* ray,
                               const double* origins, const double* dirs, const double* near_far, uint32_t rays,
                               const vkd_volrend_march_desc* desc, const uint32_t* grid_bits) {
    float step = vkd_volrend_step(desc);
    float radius = desc->radius > 0 ? desc->radius : 1.0f;
    float inv_cell = grid_bits ? (float)desc->grid_res / (2.0f * radius) : 0.0f;
    uint64_t total = 0;
    for (uint32_t r = 0; r < rays; r++) {
        offsets[r] = (uint32_t)total;
        float o[3], d[3];
        for (int i = 0; i < 3; i++) o[i] = (float)origins[3 * r + i], d[i] = (float)dirs[3 * r + i];
        float tn = (float)near_far[2 * r], tf = (float)near_far[2 * r + 1];
        float u = desc->stratified ? (float)(volrend_hash2(desc->seed, r) >> 8) * (1.0f / 16777216.0f) : 0.0f;
        for (uint32_t k = 0; k < (1u << 24); k++) {
            float tm = tn + (((float)k + u) + 0.5f) * step;
            if (!(tm < tf)) break;
            float pos[3];
            for (int i = 0; i < 3; i++) pos[i] = o[i] + tm * d[i];
            if (!ref_occupied(pos, grid_bits, desc->grid_res, radius, inv_cell)) continue;
            for (int i = 0; i < 3; i++) {
                if (positions) positions[3 * total + i] = pos[i];
                if (sdirs) sdirs[3 * total + i] = d[i];
            }
            if (intervals) intervals[2 * total] = tm, intervals[2 * total + 1] = step;
            if (ray) ray[total] = r;
            total++;
        }
    }
    offsets[rays] = (uint32_t)total;
    return total;
}

// ---------------------------------------------------------------------------
// Compositing

static size_t img_index(uint32_t r, uint32_t c, uint32_t channels, uint32_t rays_per_view) {
    uint32_t b = r / rays_per_view, pix = r % rays_per_view;
    return ((size_t)b * channels + c) * rays_per_view + pix;
}

void vkd_ref_volrend_composite_forward(double* rgb, double* opacity, double* depth, double* normals_img,
                                       double* weights, const uint32_t* offsets, const double* sigma,
                                       const double* srgb, const double* intervals, const double* snormals,
                                       const double* bg, uint32_t rays, uint32_t rays_per_view) {
    for (uint32_t r = 0; r < rays; r++) {
        double T = 1, C[3] = {0, 0, 0}, N[3] = {0, 0, 0}, O = 0, D = 0;
        uint32_t i = offsets[r];
        for (; i < offsets[r + 1]; i++) {
            if (T < VOLREND_T_EPS) break;
            double e = exp(-sigma[i] * intervals[2 * i + 1]);
            double w = -expm1(-sigma[i] * intervals[2 * i + 1]) * T;
            for (int c = 0; c < 3; c++) {
                C[c] += w * srgb[3 * i + c];
                if (snormals) N[c] += w * snormals[3 * i + c];
            }
            O += w;
            D += w * intervals[2 * i];
            if (weights) weights[i] = w;
            T *= e;
        }
        if (weights)
            for (; i < offsets[r + 1]; i++) weights[i] = 0;
        for (int c = 0; c < 3; c++) {
            if (bg) C[c] += T * bg[3 * r + c];
            if (rgb) rgb[img_index(r, c, 3, rays_per_view)] = C[c];
            if (normals_img) normals_img[img_index(r, c, 3, rays_per_view)] = N[c];
        }
        if (opacity) opacity[r] = O;
        if (depth) depth[r] = D;
    }
}

void vkd_ref_volrend_composite_backward(double* d_sigma, double* d_srgb, double* d_intervals, double* d_snormals,
                                        double* d_bg, const double* g_rgb, const double* g_opacity,
                                        const double* g_depth, const double* g_normals, const uint32_t* offsets,
                                        const double* sigma, const double* srgb, const double* intervals,
                                        const double* snormals, const double* bg, uint32_t rays,
                                        uint32_t rays_per_view) {
    for (uint32_t r = 0; r < rays; r++) {
        double gC[3] = {0, 0, 0}, gN[3] = {0, 0, 0};
        double gO = g_opacity ? g_opacity[r] : 0, gD = g_depth ? g_depth[r] : 0;
        for (int c = 0; c < 3; c++) {
            if (g_rgb) gC[c] = g_rgb[img_index(r, c, 3, rays_per_view)];
            if (g_normals && snormals) gN[c] = g_normals[img_index(r, c, 3, rays_per_view)];
        }
        // Forward again: where the ray stops, each sample's weight and its value v_i.
        uint32_t s0 = offsets[r], end = s0;
        double T = 1;
        for (; end < offsets[r + 1] && T >= VOLREND_T_EPS; end++) T *= exp(-sigma[end] * intervals[2 * end + 1]);
        double t_end = T, bg_dot = 0;
        for (int c = 0; c < 3; c++)
            if (bg) bg_dot += bg[3 * r + c] * gC[c];
        // T_i from the front (dividing T_{i+1} by 1 - alpha_i would lose accuracy for opaque
        // samples), then exact suffix sums back to front (the GPU uses total - prefix).
        double* Ts = malloc((end - s0 + 1) * sizeof *Ts);
        Ts[0] = 1;
        for (uint32_t i = s0; i < end; i++) Ts[i - s0 + 1] = Ts[i - s0] * exp(-sigma[i] * intervals[2 * i + 1]);
        double suffix = t_end * bg_dot;
        for (uint32_t i = end; i-- > s0;) {
            double Ti = Ts[i - s0];
            double w = -expm1(-sigma[i] * intervals[2 * i + 1]) * Ti;
            double v = gO + intervals[2 * i] * gD;
            for (int c = 0; c < 3; c++) {
                v += srgb[3 * i + c] * gC[c];
                if (snormals) v += snormals[3 * i + c] * gN[c];
            }
            double k = Ts[i - s0 + 1] * v - suffix;
            if (d_sigma) d_sigma[i] += intervals[2 * i + 1] * k;
            if (d_intervals) {
                d_intervals[2 * i] += w * gD;
                d_intervals[2 * i + 1] += sigma[i] * k;
            }
            for (int c = 0; c < 3; c++) {
                if (d_srgb) d_srgb[3 * i + c] += w * gC[c];
                if (d_snormals) d_snormals[3 * i + c] += w * gN[c];
            }
            suffix += w * v;
        }
        free(Ts);
        if (d_bg)
            for (int c = 0; c < 3; c++) d_bg[3 * r + c] += t_end * gC[c];
    }
}

// ---------------------------------------------------------------------------
// Normals

void vkd_ref_volrend_normals_forward(double* normals, const double* grad, uint64_t n, double eps) {
    if (!(eps > 0)) eps = 1e-12;
    for (uint64_t i = 0; i < n; i++) {
        const double* g = grad + 3 * i;
        double len = fmax(sqrt(g[0] * g[0] + g[1] * g[1] + g[2] * g[2]), eps);
        for (int c = 0; c < 3; c++) normals[3 * i + c] = -g[c] / len;
    }
}

void vkd_ref_volrend_normals_backward(double* d_grad, const double* d_normals, const double* grad, uint64_t n,
                                      double eps) {
    if (!(eps > 0)) eps = 1e-12;
    for (uint64_t i = 0; i < n; i++) {
        const double* g = grad + 3 * i;
        const double* dn = d_normals + 3 * i;
        double len = sqrt(g[0] * g[0] + g[1] * g[1] + g[2] * g[2]);
        if (len > eps) {
            double nrm[3] = {-g[0] / len, -g[1] / len, -g[2] / len};
            double ndn = nrm[0] * dn[0] + nrm[1] * dn[1] + nrm[2] * dn[2];
            for (int c = 0; c < 3; c++) d_grad[3 * i + c] += -(dn[c] - nrm[c] * ndn) / len;
        } else {
            for (int c = 0; c < 3; c++) d_grad[3 * i + c] += -dn[c] / eps;
        }
    }
}

// ---------------------------------------------------------------------------
// Shading

static void shade_lights(const vkd_volrend_shade_desc* d, double amb[3], double dif[3]) {
    bool amb0 = d->ambient[0] == 0 && d->ambient[1] == 0 && d->ambient[2] == 0;
    bool dif0 = d->diffuse[0] == 0 && d->diffuse[1] == 0 && d->diffuse[2] == 0;
    for (int c = 0; c < 3; c++) {
        amb[c] = amb0 ? (double)0.1f : d->ambient[c];
        dif[c] = dif0 ? (double)0.9f : d->diffuse[c];
    }
}

// n . l with l the unit vector from sample i to its view's light; l returned too.
static double shade_ndl(const double* normals, const double* positions, const uint32_t* ray, const double* lights,
                        uint64_t i, uint32_t rays_per_view, double l[3]) {
    const double* lp = lights + 3 * (ray[i] / rays_per_view);
    double len = 0;
    for (int c = 0; c < 3; c++) {
        l[c] = lp[c] - positions[3 * i + c];
        len += l[c] * l[c];
    }
    len = sqrt(len);
    double ndl = 0;
    for (int c = 0; c < 3; c++) {
        l[c] /= len;
        ndl += normals[3 * i + c] * l[c];
    }
    return ndl;
}

void vkd_ref_volrend_shade_forward(double* color, const double* albedo, const double* normals,
                                   const double* positions, const uint32_t* ray, const double* lights, uint64_t n,
                                   uint32_t rays_per_view, const vkd_volrend_shade_desc* desc) {
    double amb[3], dif[3];
    shade_lights(desc, amb, dif);
    for (uint64_t i = 0; i < n; i++) {
        if (desc->mode == VKD_VOLREND_SHADE_ALBEDO) {
            for (int c = 0; c < 3; c++) color[3 * i + c] = albedo[3 * i + c];
            continue;
        }
        double l[3];
        double s = fmax(shade_ndl(normals, positions, ray, lights, i, rays_per_view, l), 0.0);
        for (int c = 0; c < 3; c++) {
            double light = amb[c] + dif[c] * s;
            color[3 * i + c] = desc->mode == VKD_VOLREND_SHADE_LAMBERTIAN ? albedo[3 * i + c] * light : light;
        }
    }
}

void vkd_ref_volrend_shade_backward(double* d_albedo, double* d_normals, const double* d_color, const double* albedo,
                                    const double* normals, const double* positions, const uint32_t* ray,
                                    const double* lights, uint64_t n, uint32_t rays_per_view,
                                    const vkd_volrend_shade_desc* desc) {
    double amb[3], dif[3];
    shade_lights(desc, amb, dif);
    for (uint64_t i = 0; i < n; i++) {
        const double* dc = d_color + 3 * i;
        if (desc->mode == VKD_VOLREND_SHADE_ALBEDO) {
            if (d_albedo)
                for (int c = 0; c < 3; c++) d_albedo[3 * i + c] += dc[c];
            continue;
        }
        bool lamb = desc->mode == VKD_VOLREND_SHADE_LAMBERTIAN;
        double l[3];
        double ndl = shade_ndl(normals, positions, ray, lights, i, rays_per_view, l);
        double s = fmax(ndl, 0.0), dcs = 0;
        for (int c = 0; c < 3; c++) {
            double a = lamb ? albedo[3 * i + c] : 1.0;
            if (lamb && d_albedo) d_albedo[3 * i + c] += dc[c] * (amb[c] + dif[c] * s);
            dcs += dc[c] * a * dif[c];
        }
        if (d_normals && ndl > 0)
            for (int c = 0; c < 3; c++) d_normals[3 * i + c] += dcs * l[c];
    }
}

// ---------------------------------------------------------------------------
// Regularisers

static double ref_opacity_eps(vkd_volrend_opacity_loss kind, double eps) {
    if (eps > 0) return eps;
    return kind == VKD_VOLREND_OPACITY_ENTROPY ? (double)1e-3f : (double)0.01f;
}

double vkd_ref_volrend_opacity_loss_forward(const double* opacity, uint64_t n, vkd_volrend_opacity_loss kind,
                                            double scale, double eps) {
    eps = ref_opacity_eps(kind, eps);
    double sum = 0;
    for (uint64_t i = 0; i < n; i++) {
        double o = opacity[i];
        if (kind == VKD_VOLREND_OPACITY_L1) {
            sum += fabs(o);
        } else if (kind == VKD_VOLREND_OPACITY_SQRT) {
            sum += sqrt(o * o + eps);
        } else {
            double c = fmin(fmax(o, eps), 1 - eps);
            sum += -c * log(c) - (1 - c) * log(1 - c);
        }
    }
    return scale * sum;
}

void vkd_ref_volrend_opacity_loss_backward(double* d_opacity, double d_loss, const double* opacity, uint64_t n,
                                           vkd_volrend_opacity_loss kind, double scale, double eps) {
    eps = ref_opacity_eps(kind, eps);
    for (uint64_t i = 0; i < n; i++) {
        double o = opacity[i], g;
        if (kind == VKD_VOLREND_OPACITY_L1) g = o > 0 ? 1 : o < 0 ? -1 : 0;
        else if (kind == VKD_VOLREND_OPACITY_SQRT) g = o / sqrt(o * o + eps);
        else g = (o < eps || o > 1 - eps) ? 0 : log((1 - o) / o);
        d_opacity[i] += d_loss * scale * g;
    }
}

double vkd_ref_volrend_orientation_loss_forward(const double* weights, const double* normals, const double* dirs,
                                                uint64_t n, double scale) {
    double sum = 0;
    for (uint64_t i = 0; i < n; i++) {
        double c = 0;
        for (int k = 0; k < 3; k++) c += normals[3 * i + k] * dirs[3 * i + k];
        c = fmax(c, 0.0);
        sum += weights[i] * c * c;
    }
    return scale * sum;
}

void vkd_ref_volrend_orientation_loss_backward(double* d_normals, double d_loss, const double* weights,
                                               const double* normals, const double* dirs, uint64_t n, double scale) {
    for (uint64_t i = 0; i < n; i++) {
        double c = 0;
        for (int k = 0; k < 3; k++) c += normals[3 * i + k] * dirs[3 * i + k];
        if (c <= 0) continue;
        for (int k = 0; k < 3; k++) d_normals[3 * i + k] += d_loss * scale * 2 * weights[i] * c * dirs[3 * i + k];
    }
}
