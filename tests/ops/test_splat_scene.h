// Random Gaussian scenes and cameras shared by the splat test groups (test_splat.c,
// test_splat_grad.c): the same float32-rounded values go to the GPU and to the float64 reference.
#ifndef VKD_TEST_SPLAT_SCENE_H
#define VKD_TEST_SPLAT_SCENE_H

#include "harness.h"
#include "vkdream/splat.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#define SCENE_MAX_VIEWS 4

typedef struct scene_desc {
    uint32_t n;
    int deg;
    int views, width, height;
    double spread;             // means ~ N(0, spread^2) per axis
    double scale_lo, scale_hi; // scales uniform in [lo, hi] (log-uniform per axis)
    double logit_lo, logit_hi; // opacity logits uniform
    double sh_scale;           // SH coefficients ~ N(0, sh_scale^2)
    double distance;           // camera orbit radius
} scene_desc;

typedef struct scene {
    scene_desc d;
    uint32_t K;
    double *means, *log_scales, *quats, *logits, *sh;
    vkd_camera cams[SCENE_MAX_VIEWS];
    double bg[3];
    float bgf[3];
    tu_buf g_means, g_log_scales, g_quats, g_logits, g_sh;  // device copies
    vkd_splat_params p;
    vkd_ref_splat_params rp;
} scene;

static inline void scene_round(double* x, size_t n) {
    for (size_t i = 0; i < n; i++) x[i] = (double)(float)x[i];
}

static inline scene scene_make(tu_ctx* t, const scene_desc* d) {
    scene s;
    memset(&s, 0, sizeof s);
    s.d = *d;
    uint32_t n = d->n;
    s.K = (uint32_t)((d->deg + 1) * (d->deg + 1));
    s.means = tu_alloc_d(3 * (size_t)n);
    s.log_scales = tu_alloc_d(3 * (size_t)n);
    s.quats = tu_alloc_d(4 * (size_t)n);
    s.logits = tu_alloc_d(n);
    s.sh = tu_alloc_d((size_t)n * s.K * 3);
    for (uint32_t i = 0; i < n; i++) {
        for (int k = 0; k < 3; k++) {
            s.means[3 * i + k] = d->spread * tu_normal(t);
            s.log_scales[3 * i + k] = log(tu_uniform(t, d->scale_lo, d->scale_hi));
        }
        for (int k = 0; k < 4; k++) s.quats[4 * i + k] = tu_normal(t);
        s.logits[i] = tu_uniform(t, d->logit_lo, d->logit_hi);
        for (uint32_t k = 0; k < s.K * 3; k++) s.sh[(size_t)i * s.K * 3 + k] = d->sh_scale * tu_normal(t);
    }
    scene_round(s.means, 3 * (size_t)n);
    scene_round(s.log_scales, 3 * (size_t)n);
    scene_round(s.quats, 4 * (size_t)n);
    scene_round(s.logits, n);
    scene_round(s.sh, (size_t)n * s.K * 3);
    for (int b = 0; b < d->views && b < SCENE_MAX_VIEWS; b++) {
        vkd_orbit_desc od = {
            .azimuth_deg = (float)(90.0 * b + tu_uniform(t, -30, 30)),
            .elevation_deg = (float)tu_uniform(t, -20, 45),
            .distance = (float)d->distance,
            .fov_y_deg = (float)tu_uniform(t, 40, 60),
            .width = d->width,
            .height = d->height,
            .near_plane = 0.2f,
        };
        s.cams[b] = vkd_camera_orbit(&od);
        // An off-center principal point, so the clamp limits are not symmetric.
        s.cams[b].cx += (float)tu_uniform(t, -2, 2);
        s.cams[b].cy += (float)tu_uniform(t, -2, 2);
    }
    for (int k = 0; k < 3; k++) {
        s.bgf[k] = (float)tu_uniform(t, 0, 1);
        s.bg[k] = s.bgf[k];
    }
    s.g_means = tu_upload_d(t, s.means, 3 * (size_t)n);
    s.g_log_scales = tu_upload_d(t, s.log_scales, 3 * (size_t)n);
    s.g_quats = tu_upload_d(t, s.quats, 4 * (size_t)n);
    s.g_logits = tu_upload_d(t, s.logits, n);
    s.g_sh = tu_upload_d(t, s.sh, (size_t)n * s.K * 3);
    s.p = (vkd_splat_params){
        .means = s.g_means.addr, .log_scales = s.g_log_scales.addr, .quats = s.g_quats.addr,
        .opacity_logits = s.g_logits.addr, .sh = s.g_sh.addr, .count = n, .sh_degree = d->deg,
    };
    s.rp = (vkd_ref_splat_params){
        .means = s.means, .log_scales = s.log_scales, .quats = s.quats, .opacity_logits = s.logits,
        .sh = s.sh, .count = n, .sh_degree = d->deg,
    };
    return s;
}

static inline void scene_free(tu_ctx* t, scene* s) {
    free(s->means);
    free(s->log_scales);
    free(s->quats);
    free(s->logits);
    free(s->sh);
    tu_free(t, &s->g_means);
    tu_free(t, &s->g_log_scales);
    tu_free(t, &s->g_quats);
    tu_free(t, &s->g_logits);
    tu_free(t, &s->g_sh);
}

static inline size_t scene_pixels(const scene* s) { return (size_t)s->d.views * s->d.width * s->d.height; }

#endif
