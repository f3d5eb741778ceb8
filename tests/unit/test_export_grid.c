// The Gaussians' opacity/color grid (src/export/export.c) against a brute-force evaluation of
// every Gaussian at every grid point (the 3-sigma cutoff changes values by < o e^-4.5), and the
// export of a ball of Gaussians: a closed mesh whose volume matches the ball, colored like it.
#include "vkdream/export.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "unit/check.h"

static double urand(uint64_t* s) {
    *s = *s * 6364136223846793005ull + 1442695040888963407ull;
    return (double)(*s >> 11) / 9007199254740992.0;
}

int main(void) {
    vkd_error err = {0};
    vkd_gaussians_host h = {0};
    uint32_t N = 40;
    if (vkd_gaussians_host_alloc(&h, N, 0, &err)) return 1;
    uint64_t seed = 1;
    for (uint32_t i = 0; i < N; i++) {
        for (int a = 0; a < 3; a++) h.means[3 * i + a] = (float)(urand(&seed) - 0.5), h.log_scales[3 * i + a] = (float)log(0.05 + 0.1 * urand(&seed));
        float q[4] = {(float)urand(&seed) + 0.2f, (float)urand(&seed) - 0.5f, (float)urand(&seed) - 0.5f, (float)urand(&seed) - 0.5f};
        memcpy(&h.quats[4 * i], q, sizeof q);
        h.opacity_logits[i] = (float)(4 * urand(&seed) - 2);
        for (int c = 0; c < 3; c++) h.sh[3 * i + c] = (float)((urand(&seed) - 0.5) / VKD_SH_C0);
    }
    uint32_t res = 16;
    float bmin[3] = {-1, -1, -1}, bmax[3] = {1, 1, 1};
    float* dens = malloc(res * res * res * sizeof(float));
    float* col = malloc(res * res * res * 3 * sizeof(float));
    vkd_gaussians_grid_host(&h, res, bmin, bmax, dens, col);
    double maxd = 0, maxc = 0;
    for (uint32_t k = 0; k < res; k++)
        for (uint32_t j = 0; j < res; j++)
            for (uint32_t i = 0; i < res; i++) {
                double p[3] = {-1 + 2.0 * i / (res - 1), -1 + 2.0 * j / (res - 1), -1 + 2.0 * k / (res - 1)};
                double sum = 0, csum[3] = {0, 0, 0};
                for (uint32_t g = 0; g < N; g++) {
                    const float* q = &h.quats[4 * g];
                    double qn = sqrt(q[0] * q[0] + q[1] * q[1] + q[2] * q[2] + q[3] * q[3]);
                    double w = q[0] / qn, x = q[1] / qn, y = q[2] / qn, z = q[3] / qn;
                    double R[3][3] = {{1 - 2 * (y * y + z * z), 2 * (x * y - w * z), 2 * (x * z + w * y)},
                                      {2 * (x * y + w * z), 1 - 2 * (x * x + z * z), 2 * (y * z - w * x)},
                                      {2 * (x * z - w * y), 2 * (y * z + w * x), 1 - 2 * (x * x + y * y)}};
                    double d[3], l[3];
                    for (int a = 0; a < 3; a++) d[a] = p[a] - h.means[3 * g + a];
                    double e = 0;
                    for (int a = 0; a < 3; a++) {  // local coordinates R^T d, scaled
                        l[a] = (R[0][a] * d[0] + R[1][a] * d[1] + R[2][a] * d[2]) / exp(h.log_scales[3 * g + a]);
                        e += l[a] * l[a];
                    }
                    double o = 1 / (1 + exp(-h.opacity_logits[g])), v = o * exp(-0.5 * e);
                    sum += v;
                    for (int c = 0; c < 3; c++) csum[c] += v * fmin(fmax(0.5 + VKD_SH_C0 * h.sh[3 * g + c], 0), 1);
                }
                size_t at = ((size_t)k * res + j) * res + i;
                maxd = fmax(maxd, fabs(sum - dens[at]));
                for (int c = 0; c < 3; c++) maxc = fmax(maxc, fabs(csum[c] - col[3 * at + c]));
            }
    printf("grid vs brute force: max |d| density %.3g, color %.3g\n", maxd, maxc);
    CHECK(maxd < 0.012 * 3 && maxc < 0.012 * 3, "grid differs from the brute force: %g %g", maxd, maxc);
    vkd_gaussians_host_free(&h);

    // A ball of small opaque red Gaussians -> a closed red mesh of about the ball's volume.
    uint32_t M = 4000;
    vkd_gaussians_host b = {0};
    vkd_gaussians_host_alloc(&b, M, 0, &err);
    for (uint32_t i = 0; i < M; i++) {
        double p[3], r2;
        do {
            for (int a = 0; a < 3; a++) p[a] = 2 * urand(&seed) - 1;
            r2 = p[0] * p[0] + p[1] * p[1] + p[2] * p[2];
        } while (r2 > 1);
        for (int a = 0; a < 3; a++) b.means[3 * i + a] = (float)(0.5 * p[a]) + (a == 1 ? 0.3f : 0.0f), b.log_scales[3 * i + a] = (float)log(0.04);
        b.quats[4 * i] = 1;
        b.opacity_logits[i] = 3;
        float rgb[3] = {0.9f, 0.1f, 0.1f};
        for (int c = 0; c < 3; c++) b.sh[3 * i + c] = (float)((rgb[c] - 0.5) / VKD_SH_C0);
    }
    vkd_mesh m;
    vkd_export_desc d = {.resolution = 64};
    CHECK(vkd_export_gaussians(&b, &d, &m, &err) == VKD_OK, "export: %s", err.msg);
    if (m.ntris) {
        uint32_t bnd, nm, mis;
        vkd_mesh_edge_stats(&m, &bnd, &nm, &mis);
        double vol = vkd_mesh_volume(&m), ev = 4.0 / 3.0 * 3.14159265 * 0.125;
        double cr = 0, lo = 1e9, hi = -1e9;
        for (uint32_t v = 0; v < m.nverts; v++) cr += m.colors[3 * v] / m.nverts, lo = fmin(lo, m.positions[3 * v + 1]), hi = fmax(hi, m.positions[3 * v + 1]);
        printf("ball: %u verts, %u tris, volume %.4f (ball %.4f), mean red %.3f, y range %.3f..%.3f\n", m.nverts, m.ntris, vol, ev, cr, lo, hi);
        CHECK(bnd == 0 && nm == 0 && mis == 0, "closed: %u boundary, %u non-manifold, %u misoriented", bnd, nm, mis);
        CHECK(vol > 0.8 * ev && vol < 1.4 * ev, "volume %.4f vs ball %.4f", vol, ev);
        CHECK(cr > 0.85, "vertex colors red: %.3f", cr);
        CHECK(fabs(lo + hi) < 0.02, "centered: y in %.3f..%.3f", lo, hi);
    }
    vkd_mesh_free(&m);
    // Decimated and textured: every triangle's centroid UV reads the ball's red from the texture,
    // and so does a point just outside each chart (the gutter).
    vkd_export_desc dt = {.resolution = 48, .faces = 600, .texture = 128};
    CHECK(vkd_export_gaussians(&b, &dt, &m, &err) == VKD_OK, "textured export: %s", err.msg);
    if (m.ntris) {
        CHECK(m.ntris <= 600 && m.uvs && m.texture && m.texture_size == 128 && m.nverts == 3 * m.ntris,
              "%u triangles, uvs %p, texture %u", m.ntris, (void*)m.uvs, m.texture_size);
        double red = 0, gut = 0;
        for (uint32_t t = 0; t < m.ntris; t++) {
            float u = 0, v = 0;
            for (int k = 0; k < 3; k++) u += m.uvs[2 * m.indices[3 * t + k]] / 3, v += m.uvs[2 * m.indices[3 * t + k] + 1] / 3;
            int x = (int)(u * 128), y = (int)((1 - v) * 128);
            red += m.texture[3 * (y * 128 + x)] / 255.0 / m.ntris;
            // One texel beyond the first corner, away from the centroid.
            float u0 = m.uvs[2 * m.indices[3 * t]], v0 = m.uvs[2 * m.indices[3 * t] + 1];
            int gx = (int)(u0 * 128 + (u0 < u ? -0.9f : 0.9f)), gy = (int)((1 - v0) * 128 + (v0 > v ? -0.9f : 0.9f));
            gx = gx < 0 ? 0 : gx > 127 ? 127 : gx, gy = gy < 0 ? 0 : gy > 127 ? 127 : gy;
            gut += m.texture[3 * (gy * 128 + gx)] / 255.0 / m.ntris;
        }
        printf("textured: %u triangles, mean red at centroids %.3f, in the gutter %.3f\n", m.ntris, red, gut);
        CHECK(red > 0.85 && gut > 0.85, "texture red at centroids %.3f, gutter %.3f", red, gut);
    }
    vkd_mesh_free(&m);
    // Too many triangles for the texture: a clear error.
    dt.faces = 0, dt.texture = 16;
    CHECK(vkd_export_gaussians(&b, &dt, &m, &err) == VKD_ERR_INVALID && strstr(err.msg, "--faces"), "%s", err.msg);
    vkd_mesh_free(&m);
    // Transparent Gaussians: a clear error, no mesh.
    for (uint32_t i = 0; i < M; i++) b.opacity_logits[i] = -20;
    CHECK(vkd_export_gaussians(&b, &d, &m, &err) == VKD_ERR_INVALID && strstr(err.msg, "transparent"), "%s", err.msg);
    vkd_gaussians_host_free(&b);
    free(dens), free(col);
    printf("export_grid: %d checks, %d failed\n", checks, failures);
    return failures ? 1 : 0;
}
