// Float64 reference of the compute rasterizer (include/vkdream/raster.h), for the tests.
#include "vkdream/raster.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

typedef struct ref_tri {
    double w[3][3];   // world positions
    double z[3];      // camera depths
    double s[3][2];   // screen positions
    double area;
} ref_tri;

static double edge(const double* a, const double* b, double qx, double qy) {
    return (b[0] - a[0]) * (qy - a[1]) - (b[1] - a[1]) * (qx - a[0]);
}

static bool setup(ref_tri* t, const vkd_ref_raster_mesh* m, uint32_t tri, const vkd_camera* cam) {
    const float* v = cam->viewmat;
    for (int i = 0; i < 3; i++) {
        const double* p = &m->positions[3 * (size_t)m->indices[3 * (size_t)tri + i]];
        double c[3];
        for (int r = 0; r < 3; r++) c[r] = v[4 * r] * p[0] + v[4 * r + 1] * p[1] + v[4 * r + 2] * p[2] + v[4 * r + 3];
        memcpy(t->w[i], p, sizeof t->w[i]);
        t->z[i] = c[2];
        t->s[i][0] = cam->fx * c[0] / c[2] + cam->cx;
        t->s[i][1] = cam->fy * c[1] / c[2] + cam->cy;
    }
    for (int i = 0; i < 3; i++)
        if (t->z[i] < cam->near_plane) return false;
    if (t->z[0] > cam->far_plane && t->z[1] > cam->far_plane && t->z[2] > cam->far_plane) return false;
    t->area = edge(t->s[0], t->s[1], t->s[2][0], t->s[2][1]);
    return t->area != 0.0;
}

static void weights(const ref_tri* t, double qx, double qy, double e[3]) {
    e[0] = edge(t->s[1], t->s[2], qx, qy);
    e[1] = edge(t->s[2], t->s[0], qx, qy);
    e[2] = edge(t->s[0], t->s[1], qx, qy);
    if (t->area < 0)
        for (int i = 0; i < 3; i++) e[i] = -e[i];
}

static double depth_at(const ref_tri* t, const double e[3]) {
    return 1.0 / ((e[0] / t->z[0] + e[1] / t->z[1] + e[2] / t->z[2]) / fabs(t->area));
}

static void normalize3(double* v, double fallback_z) {
    double l = sqrt(v[0] * v[0] + v[1] * v[1] + v[2] * v[2]);
    if (l > 0) {
        for (int i = 0; i < 3; i++) v[i] /= l;
    } else {
        v[0] = 0, v[1] = 0, v[2] = fallback_z;
    }
}

void vkd_ref_raster_forward(double* rgb, double* alpha, double* depth, uint32_t* ids, const vkd_ref_raster_mesh* m,
                            const vkd_camera* cam, vkd_raster_shade shade, const double bg[3]) {
    int W = cam->width, H = cam->height;
    size_t plane = (size_t)W * H;
    double* zbuf = malloc(plane * sizeof *zbuf);
    uint32_t* ibuf = malloc(plane * sizeof *ibuf);
    if (!zbuf || !ibuf) {
        free(zbuf);
        free(ibuf);
        return;
    }
    for (size_t i = 0; i < plane; i++) zbuf[i] = INFINITY, ibuf[i] = 0xFFFFFFFFu;
    // Nearest depth, ties to the lowest id: triangles in increasing order, strictly nearer wins.
    for (uint32_t tri = 0; tri < m->triangle_count; tri++) {
        ref_tri t;
        if (!setup(&t, m, tri, cam)) continue;
        double lo[2], hi[2];
        for (int a = 0; a < 2; a++) {
            lo[a] = fmin(t.s[0][a], fmin(t.s[1][a], t.s[2][a]));
            hi[a] = fmax(t.s[0][a], fmax(t.s[1][a], t.s[2][a]));
        }
        int x0 = (int)fmin(fmax(ceil(lo[0] - 0.5), 0), W), x1 = (int)fmin(fmax(floor(hi[0] - 0.5), -1), W - 1);
        int y0 = (int)fmin(fmax(ceil(lo[1] - 0.5), 0), H), y1 = (int)fmin(fmax(floor(hi[1] - 0.5), -1), H - 1);
        for (int y = y0; y <= y1; y++)
            for (int x = x0; x <= x1; x++) {
                double e[3];
                weights(&t, x + 0.5, y + 0.5, e);
                if (e[0] < 0 || e[1] < 0 || e[2] < 0) continue;
                double z = depth_at(&t, e);
                size_t pix = (size_t)y * W + x;
                if (z < zbuf[pix]) zbuf[pix] = z, ibuf[pix] = tri;
            }
    }
    double campos[3];
    {
        float p[3];
        vkd_camera_position(cam, p);
        for (int i = 0; i < 3; i++) campos[i] = p[i];
    }
    for (int y = 0; y < H; y++)
        for (int x = 0; x < W; x++) {
            size_t pix = (size_t)y * W + x;
            uint32_t tri = ibuf[pix];
            double c[3] = {bg ? bg[0] : 0, bg ? bg[1] : 0, bg ? bg[2] : 0}, a = 0, z = 0;
            ref_tri t;
            if (tri != 0xFFFFFFFFu && setup(&t, m, tri, cam)) {
                double e[3], q[3], b[3];
                weights(&t, x + 0.5, y + 0.5, e);
                for (int i = 0; i < 3; i++) e[i] = fmax(e[i], 0.0), q[i] = e[i] / t.z[i];
                for (int i = 0; i < 3; i++) b[i] = q[i] / (q[0] + q[1] + q[2]);
                z = depth_at(&t, e);
                a = 1;
                const uint32_t* vi = &m->indices[3 * (size_t)tri];
                double wpos[3], n[3], base[3] = {0.7, 0.7, 0.7}, v[3];
                for (int k = 0; k < 3; k++) wpos[k] = b[0] * t.w[0][k] + b[1] * t.w[1][k] + b[2] * t.w[2][k];
                if (m->normals) {
                    for (int k = 0; k < 3; k++)
                        n[k] = b[0] * m->normals[3 * (size_t)vi[0] + k] + b[1] * m->normals[3 * (size_t)vi[1] + k] +
                               b[2] * m->normals[3 * (size_t)vi[2] + k];
                } else {
                    double e1[3], e2[3];
                    for (int k = 0; k < 3; k++) e1[k] = t.w[1][k] - t.w[0][k], e2[k] = t.w[2][k] - t.w[0][k];
                    n[0] = e1[1] * e2[2] - e1[2] * e2[1];
                    n[1] = e1[2] * e2[0] - e1[0] * e2[2];
                    n[2] = e1[0] * e2[1] - e1[1] * e2[0];
                }
                normalize3(n, 1.0);
                for (int k = 0; k < 3; k++) v[k] = campos[k] - wpos[k];
                normalize3(v, 1.0);
                double nv = n[0] * v[0] + n[1] * v[1] + n[2] * v[2];
                if (nv < 0) {
                    for (int k = 0; k < 3; k++) n[k] = -n[k];
                    nv = -nv;
                }
                if (m->colors) {
                    for (int k = 0; k < 3; k++)
                        base[k] = b[0] * m->colors[3 * (size_t)vi[0] + k] + b[1] * m->colors[3 * (size_t)vi[1] + k] +
                                  b[2] * m->colors[3 * (size_t)vi[2] + k];
                } else if (m->face_colors) {
                    for (int k = 0; k < 3; k++) base[k] = m->face_colors[3 * (size_t)tri + k];
                }
                double lit[3];
                for (int k = 0; k < 3; k++) lit[k] = base[k] * (0.25 + 0.75 * fmax(nv, 0.0));
                if (shade == VKD_RASTER_NORMALS) {
                    for (int k = 0; k < 3; k++) c[k] = 0.5 * n[k] + 0.5;
                } else if (shade == VKD_RASTER_WIREFRAME) {
                    double dmin = INFINITY;
                    for (int k = 0; k < 3; k++) {
                        const double* p0 = t.s[(k + 1) % 3];
                        const double* p1 = t.s[(k + 2) % 3];
                        double len = fmax(hypot(p1[0] - p0[0], p1[1] - p0[1]), 1e-20);
                        dmin = fmin(dmin, e[k] / len);
                    }
                    for (int k = 0; k < 3; k++) c[k] = dmin < 1.0 ? lit[k] + (0.02 - lit[k]) * 0.85 : lit[k];
                } else {
                    memcpy(c, lit, sizeof c);
                }
            }
            if (rgb)
                for (int k = 0; k < 3; k++) rgb[k * plane + pix] = c[k];
            if (alpha) alpha[pix] = a;
            if (depth) depth[pix] = z * a;
            if (ids) ids[pix] = tri;
        }
    free(zbuf);
    free(ibuf);
}
