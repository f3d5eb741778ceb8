// Tiny scenes for the viewer tests: a colored ball of Gaussians and a colored sphere mesh.
#ifndef VKD_TESTS_VIEWER_ASSETS_H
#define VKD_TESTS_VIEWER_ASSETS_H

#include "vkdream/gaussians.h"
#include "vkdream/mesh.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

// n Gaussians on and inside a ball of radius 0.5 (a golden-angle spiral on 3 shells), colored
// by direction (rgb = 0.5 + 0.45 * unit position), opaque, scales ~ the point spacing.
static inline vkd_status test_ball_gaussians(vkd_gaussians_host* h, uint32_t n, vkd_error* err) {
    vkd_status st = vkd_gaussians_host_alloc(h, n, 0, err);
    if (st) return st;
    const double golden = 3.14159265358979 * (3.0 - sqrt(5.0));
    for (uint32_t i = 0; i < n; i++) {
        double shell = 0.5 - 0.12 * (i % 3);
        double y = 1.0 - 2.0 * (i + 0.5) / n, r = sqrt(1.0 - y * y), phi = golden * i;
        double d[3] = {r * cos(phi), y, r * sin(phi)};
        for (int k = 0; k < 3; k++) {
            h->means[3 * i + k] = (float)(shell * d[k]);
            h->log_scales[3 * i + k] = (float)log(1.6 * 0.5 / sqrt((double)n / 3.0));
            h->sh[3 * i + k] = (float)((0.45 * d[k]) / VKD_SH_C0);  // rgb = 0.5 + 0.45 d
        }
        h->quats[4 * i] = 1.0f;
        h->opacity_logits[i] = 3.0f;
    }
    return VKD_OK;
}

// A UV sphere of radius 0.5 with normals and colors (rgb = 0.5 + 0.45 * normal).
static inline vkd_status test_sphere_mesh(vkd_mesh* m, int rings, int segments, vkd_error* err) {
    memset(m, 0, sizeof *m);
    m->nverts = (uint32_t)((rings + 1) * (segments + 1));
    m->ntris = (uint32_t)(2 * rings * segments);
    m->positions = malloc(m->nverts * 12);
    m->normals = malloc(m->nverts * 12);
    m->colors = malloc(m->nverts * 12);
    m->indices = malloc(m->ntris * 12);
    if (!m->positions || !m->normals || !m->colors || !m->indices) {
        vkd_mesh_free(m);
        return vkd_error_set(err, VKD_ERR_OUT_OF_MEMORY, "out of memory");
    }
    uint32_t v = 0, t = 0;
    for (int a = 0; a <= rings; a++)
        for (int b = 0; b <= segments; b++, v++) {
            double th = 3.14159265358979 * a / rings, ph = 2 * 3.14159265358979 * b / segments;
            double n[3] = {sin(th) * cos(ph), cos(th), sin(th) * sin(ph)};
            for (int k = 0; k < 3; k++) {
                m->normals[3 * v + k] = (float)n[k];
                m->positions[3 * v + k] = (float)(0.5 * n[k]);
                m->colors[3 * v + k] = (float)(0.5 + 0.45 * n[k]);
            }
        }
    for (int a = 0; a < rings; a++)
        for (int b = 0; b < segments; b++) {
            uint32_t i0 = (uint32_t)(a * (segments + 1) + b), i1 = i0 + 1, i2 = i0 + (uint32_t)segments + 1,
                     i3 = i2 + 1;
            uint32_t q[6] = {i0, i1, i2, i1, i3, i2};
            memcpy(&m->indices[3 * t], q, sizeof q);
            t += 2;
        }
    return VKD_OK;
}

#endif
