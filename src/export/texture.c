// Per-triangle UV atlas and texture baking; see vkd_mesh_bake_texture in include/vkdream/mesh.h.
#include "vkdream/mesh.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

// Barycentric coordinates of p in triangle (a, b, c) in 2-D, clamped onto the triangle.
static void bary_clamped(const float p[2], const float a[2], const float b[2], const float c[2], float w[3]) {
    float v0[2] = {b[0] - a[0], b[1] - a[1]}, v1[2] = {c[0] - a[0], c[1] - a[1]}, v2[2] = {p[0] - a[0], p[1] - a[1]};
    float d00 = v0[0] * v0[0] + v0[1] * v0[1], d01 = v0[0] * v1[0] + v0[1] * v1[1], d11 = v1[0] * v1[0] + v1[1] * v1[1];
    float d20 = v2[0] * v0[0] + v2[1] * v0[1], d21 = v2[0] * v1[0] + v2[1] * v1[1];
    float den = d00 * d11 - d01 * d01;
    float y = (d11 * d20 - d01 * d21) / den, z = (d00 * d21 - d01 * d20) / den, x = 1 - y - z;
    w[0] = fmaxf(x, 0), w[1] = fmaxf(y, 0), w[2] = fmaxf(z, 0);
    float s = w[0] + w[1] + w[2];
    for (int k = 0; k < 3; k++) w[k] /= s;
}

vkd_status vkd_mesh_bake_texture(vkd_mesh* m, uint32_t size, vkd_color_fn color, void* user, vkd_error* err) {
    if (!m->ntris) return vkd_error_set(err, VKD_ERR_INVALID, "texture: the mesh has no triangles");
    uint32_t cells = (m->ntris + 1) / 2, grid = (uint32_t)ceil(sqrt((double)cells));
    uint32_t S = size / grid;
    if (S < 4)
        return vkd_error_set(err, VKD_ERR_INVALID,
                             "texture: %u triangles need cells of at least 4 texels: a %u texture holds %u triangles "
                             "(decimate with --faces, or a larger texture)",
                             m->ntris, size, 2 * (size / 4) * (size / 4));
    uint32_t nv = 3 * m->ntris;
    float* pos = malloc((size_t)nv * 3 * sizeof(float));
    float* nrm = m->normals ? malloc((size_t)nv * 3 * sizeof(float)) : NULL;
    float* uv = malloc((size_t)nv * 2 * sizeof(float));
    uint32_t* idx = malloc((size_t)m->ntris * 3 * sizeof(uint32_t));
    uint8_t* tex = calloc((size_t)size * size * 3, 1);
    float* pts = malloc((size_t)size * size * 3 * sizeof(float));
    float* rgb = malloc((size_t)size * size * 3 * sizeof(float));
    uint32_t* texel = malloc((size_t)size * size * sizeof(uint32_t));
    if (!pos || (m->normals && !nrm) || !uv || !idx || !tex || !pts || !rgb || !texel) {
        free(pos), free(nrm), free(uv), free(idx), free(tex), free(pts), free(rgb), free(texel);
        return vkd_error_set(err, VKD_ERR_OUT_OF_MEMORY, "texture %u: out of host memory", size);
    }
    // Chart corners in texel units within a cell: A lower-left half, B upper-right half (y down).
    const float A[3][2] = {{1, 1}, {(float)S - 2, 1}, {1, (float)S - 2}};
    const float Bc[3][2] = {{(float)S - 1, (float)S - 1}, {2, (float)S - 1}, {(float)S - 1, 2}};
    uint32_t npts = 0;
    for (uint32_t t = 0; t < m->ntris; t++) {
        uint32_t cell = t / 2, cx = cell % grid, cy = cell / grid;
        const float(*corner)[2] = (t & 1) ? Bc : A;
        for (int k = 0; k < 3; k++) {
            uint32_t src = m->indices[3 * t + k], dst = 3 * t + (uint32_t)k;
            memcpy(&pos[3 * dst], &m->positions[3 * src], 3 * sizeof(float));
            if (nrm) memcpy(&nrm[3 * dst], &m->normals[3 * src], 3 * sizeof(float));
            uv[2 * dst] = ((float)(cx * S) + corner[k][0]) / (float)size;
            uv[2 * dst + 1] = 1.0f - ((float)(cy * S) + corner[k][1]) / (float)size;
            idx[3 * t + k] = dst;
        }
        // Every texel of this triangle's half cell (B also takes the texels right of the grid's
        // last column / below its last row: none, S divides evenly by construction).
        for (uint32_t y = 0; y < S; y++)
            for (uint32_t x = 0; x < S; x++) {
                bool in_a = (float)x + (float)y + 1.0f < (float)S;
                if (in_a == (bool)(t & 1)) continue;
                float p[2] = {(float)x + 0.5f, (float)y + 0.5f}, w[3];
                bary_clamped(p, corner[0], corner[1], corner[2], w);
                for (int a = 0; a < 3; a++) {
                    float v = 0;
                    for (int k = 0; k < 3; k++) v += w[k] * m->positions[3 * m->indices[3 * t + k] + a];
                    pts[3 * npts + a] = v;
                }
                texel[npts++] = (cy * S + y) * size + cx * S + x;
            }
    }
    color(pts, rgb, npts, user);
    for (uint32_t i = 0; i < npts; i++)
        for (int c = 0; c < 3; c++) {
            float v = rgb[3 * i + c];
            tex[3 * (size_t)texel[i] + c] = (uint8_t)(v <= 0 || v != v ? 0 : v >= 1 ? 255 : lrintf(v * 255.0f));
        }
    free(pts), free(rgb), free(texel);
    free(m->positions), free(m->normals), free(m->indices), free(m->uvs), free(m->texture), free(m->colors);
    m->positions = pos, m->normals = nrm, m->indices = idx, m->uvs = uv, m->texture = tex, m->colors = NULL;
    m->nverts = nv, m->texture_size = size;
    return VKD_OK;
}
