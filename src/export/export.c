// Representations -> meshes; see include/vkdream/export.h.
#include "vkdream/export.h"
#include "vkdream/distill.h"

#include "vkdream/image.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static float sigmoidf(float x) { return 1.0f / (1.0f + expf(-x)); }

void vkd_gaussians_grid_host(const vkd_gaussians_host* h, uint32_t res, const float bmin[3], const float bmax[3],
                             float* density, float* color) {
    size_t n3 = (size_t)res * res * res;
    memset(density, 0, n3 * sizeof(float));
    if (color) memset(color, 0, n3 * 3 * sizeof(float));
    float step[3];
    for (int a = 0; a < 3; a++) step[a] = (bmax[a] - bmin[a]) / (float)(res - 1);
    int K = (h->sh_degree + 1) * (h->sh_degree + 1);
    for (uint32_t i = 0; i < h->count; i++) {
        const float* mu = &h->means[3 * i];
        const float* q = &h->quats[4 * i];
        float o = sigmoidf(h->opacity_logits[i]);
        if (!(o > 1e-3f)) continue;
        // R from the (w, x, y, z) quaternion; precision S^-1 = R diag(1 / s^2) R^T.
        float qn = sqrtf(q[0] * q[0] + q[1] * q[1] + q[2] * q[2] + q[3] * q[3]);
        if (!(qn > 0)) continue;
        float w = q[0] / qn, x = q[1] / qn, y = q[2] / qn, z = q[3] / qn;
        float R[3][3] = {{1 - 2 * (y * y + z * z), 2 * (x * y - w * z), 2 * (x * z + w * y)},
                         {2 * (x * y + w * z), 1 - 2 * (x * x + z * z), 2 * (y * z - w * x)},
                         {2 * (x * z - w * y), 2 * (y * z + w * x), 1 - 2 * (x * x + y * y)}};
        float s[3], smax = 0;
        for (int a = 0; a < 3; a++) s[a] = expf(h->log_scales[3 * i + a]), smax = fmaxf(smax, s[a]);
        float P[3][3];
        for (int r = 0; r < 3; r++)
            for (int c = 0; c < 3; c++) {
                P[r][c] = 0;
                for (int k = 0; k < 3; k++) P[r][c] += R[r][k] * R[c][k] / (s[k] * s[k]);
            }
        float rgb[3];
        for (int c = 0; c < 3; c++) rgb[c] = fminf(fmaxf(0.5f + (float)VKD_SH_C0 * h->sh[(size_t)i * K * 3 + c], 0), 1);
        int lo[3], hi[3];
        for (int a = 0; a < 3; a++) {
            lo[a] = (int)ceilf((mu[a] - 3 * smax - bmin[a]) / step[a]);
            hi[a] = (int)floorf((mu[a] + 3 * smax - bmin[a]) / step[a]);
            lo[a] = lo[a] < 0 ? 0 : lo[a];
            hi[a] = hi[a] >= (int)res ? (int)res - 1 : hi[a];
        }
        for (int k = lo[2]; k <= hi[2]; k++)
            for (int j = lo[1]; j <= hi[1]; j++)
                for (int ii = lo[0]; ii <= hi[0]; ii++) {
                    float d[3] = {bmin[0] + ii * step[0] - mu[0], bmin[1] + j * step[1] - mu[1],
                                  bmin[2] + k * step[2] - mu[2]};
                    float e = 0;
                    for (int r = 0; r < 3; r++)
                        for (int c = 0; c < 3; c++) e += d[r] * P[r][c] * d[c];
                    if (e > 9.0f) continue;  // 3 sigma
                    float v = o * expf(-0.5f * e);
                    size_t at = ((size_t)k * res + j) * res + ii;
                    density[at] += v;
                    if (color)
                        for (int c = 0; c < 3; c++) color[3 * at + c] += v * rgb[c];
                }
    }
}

// Trilinear sample of an interleaved (res^3, C) grid at world point p.
static void trilinear(const float* grid, int C, uint32_t res, const float bmin[3], const float bmax[3],
                      const float p[3], float* out) {
    int i0[3];
    float f[3];
    for (int a = 0; a < 3; a++) {
        float u = (p[a] - bmin[a]) / (bmax[a] - bmin[a]) * (float)(res - 1);
        u = fminf(fmaxf(u, 0), (float)(res - 1) - 1e-4f);
        i0[a] = (int)u;
        f[a] = u - (float)i0[a];
    }
    for (int c = 0; c < C; c++) out[c] = 0;
    for (int corner = 0; corner < 8; corner++) {
        int dx = corner & 1, dy = (corner >> 1) & 1, dz = corner >> 2;
        float wgt = (dx ? f[0] : 1 - f[0]) * (dy ? f[1] : 1 - f[1]) * (dz ? f[2] : 1 - f[2]);
        size_t at = (((size_t)(i0[2] + dz) * res + (i0[1] + dy)) * res + (i0[0] + dx)) * C;
        for (int c = 0; c < C; c++) out[c] += wgt * grid[at + c];
    }
}

static void finish(vkd_mesh* m, const vkd_export_desc* d, float offset[3]) {
    float frac = d->min_component == 0 ? 0.05f : d->min_component;
    if (frac > 0) vkd_mesh_remove_small_components(m, frac);
    if (d->faces) vkd_mesh_decimate(m, d->faces);
    offset[0] = offset[1] = offset[2] = 0;
    if (!d->no_center) vkd_mesh_center(m, offset);
}

typedef struct grid_sampler {
    const float *dens, *col;
    uint32_t res;
    const float *bmin, *bmax;
    float offset[3];  // undo the centering: world = mesh + offset... (mesh = world + offset)
} grid_sampler;

static void sample_grid_colors(const float* pts, float* rgb, uint32_t n, void* user) {
    const grid_sampler* g = user;
    for (uint32_t i = 0; i < n; i++) {
        float p[3] = {pts[3 * i] - g->offset[0], pts[3 * i + 1] - g->offset[1], pts[3 * i + 2] - g->offset[2]};
        float c[3], w;
        trilinear(g->col, 3, g->res, g->bmin, g->bmax, p, c);
        trilinear(g->dens, 1, g->res, g->bmin, g->bmax, p, &w);
        for (int a = 0; a < 3; a++) rgb[3 * i + a] = w > 1e-6f ? fminf(fmaxf(c[a] / w, 0), 1) : 0.5f;
    }
}

vkd_status vkd_export_gaussians(const vkd_gaussians_host* h, const vkd_export_desc* desc, vkd_mesh* out,
                                vkd_error* err) {
    vkd_export_desc d = desc ? *desc : (vkd_export_desc){0};
    uint32_t res = d.resolution ? d.resolution : 128;
    memset(out, 0, sizeof *out);
    if (!h->count) return vkd_error_set(err, VKD_ERR_INVALID, "export: the asset has no Gaussians");
    // The box: every mean, padded by the largest 3-sigma extent.
    float bmin[3] = {INFINITY, INFINITY, INFINITY}, bmax[3] = {-INFINITY, -INFINITY, -INFINITY}, pad = 0;
    for (uint32_t i = 0; i < h->count; i++) {
        if (sigmoidf(h->opacity_logits[i]) <= 1e-3f) continue;
        for (int a = 0; a < 3; a++) {
            bmin[a] = fminf(bmin[a], h->means[3 * i + a]), bmax[a] = fmaxf(bmax[a], h->means[3 * i + a]);
            pad = fmaxf(pad, 3 * expf(h->log_scales[3 * i + a]));
        }
    }
    if (!(bmin[0] <= bmax[0]))
        return vkd_error_set(err, VKD_ERR_INVALID, "export: every Gaussian is transparent: nothing to mesh");
    pad = fminf(pad, 0.5f * fmaxf(fmaxf(bmax[0] - bmin[0], bmax[1] - bmin[1]), bmax[2] - bmin[2]) + 0.05f);
    for (int a = 0; a < 3; a++) bmin[a] -= pad, bmax[a] += pad;
    size_t n3 = (size_t)res * res * res;
    float* dens = malloc(n3 * sizeof(float));
    float* col = malloc(n3 * 3 * sizeof(float));
    if (!dens || !col) {
        free(dens), free(col);
        return vkd_error_set(err, VKD_ERR_OUT_OF_MEMORY, "export: a %u^3 grid needs more host memory", res);
    }
    vkd_gaussians_grid_host(h, res, bmin, bmax, dens, col);
    vkd_grid_desc g = {.density = dens, .nx = (int)res, .ny = (int)res, .nz = (int)res,
                       .bmin = {bmin[0], bmin[1], bmin[2]}, .bmax = {bmax[0], bmax[1], bmax[2]}};
    vkd_status st = vkd_marching_cubes(&g, d.iso > 0 ? d.iso : 0.5f, out, err);
    if (!st) {
        out->colors = malloc((size_t)out->nverts * 3 * sizeof(float));
        if (!out->colors) st = vkd_error_set(err, VKD_ERR_OUT_OF_MEMORY, "export: out of host memory");
        for (uint32_t v = 0; v < out->nverts && !st; v++) {
            float c[3], w;
            trilinear(col, 3, res, bmin, bmax, &out->positions[3 * v], c);
            trilinear(dens, 1, res, bmin, bmax, &out->positions[3 * v], &w);
            for (int a = 0; a < 3; a++) out->colors[3 * v + a] = w > 1e-6f ? fminf(fmaxf(c[a] / w, 0), 1) : 0.5f;
        }
        float off[3];
        if (!st) finish(out, &d, off);
        if (!st && d.texture) {
            grid_sampler gs = {dens, col, res, bmin, bmax, {off[0], off[1], off[2]}};
            st = vkd_mesh_bake_texture(out, d.texture, sample_grid_colors, &gs, err);
        }
    }
    free(dens), free(col);
    return st;
}

typedef struct field_sampler {
    vkd_nerf* n;
    vkd_stream* s;
    float offset[3];
    vkd_status st;
    vkd_error* err;
} field_sampler;

// The field's albedo at points (mesh coordinates), evaluated on the GPU.
static vkd_status field_colors(vkd_nerf* n, vkd_stream* s, const float* pts, float* rgb_out, uint32_t count,
                               const float offset[3], vkd_error* err) {
    vkd_gpu* gpu = vkd_stream_gpu(s);
    vkd_nerf_field* f = vkd_nerf_field_of(n);
    vkd_buffer pos = {0}, rgb = {0}, dens = {0}, ws = {0};
    float* p = malloc((size_t)count * 3 * sizeof(float));
    vkd_status st = p ? VKD_OK : vkd_error_set(err, VKD_ERR_OUT_OF_MEMORY, "export: out of host memory");
    for (uint32_t v = 0; v < count && !st; v++)
        for (int a = 0; a < 3; a++) p[3 * v + a] = pts[3 * v + a] - offset[a];
    if (!st) st = vkd_buffer_alloc(gpu, (size_t)count * 12, &pos, err);
    if (!st) st = vkd_buffer_alloc(gpu, (size_t)count * 12, &rgb, err);
    if (!st) st = vkd_buffer_alloc(gpu, (size_t)count * 4, &dens, err);
    if (!st) st = vkd_buffer_alloc(gpu, vkd_nerf_field_workspace_bytes(f, count), &ws, err);
    if (!st) st = vkd_buffer_upload(gpu, &pos, 0, p, (size_t)count * 12, err);
    if (!st) {
        vkd_nerf_field_forward(f, s, dens.addr, rgb.addr, pos.addr, count, ws.addr);
        st = vkd_stream_submit(s, err);
    }
    if (!st) st = vkd_buffer_download(gpu, &rgb, 0, rgb_out, (size_t)count * 12, err);
    vkd_buffer* bufs[] = {&pos, &rgb, &dens, &ws};
    for (int i = 0; i < 4; i++)
        if (bufs[i]->addr) vkd_buffer_free(gpu, bufs[i]);
    free(p);
    return st;
}

static void sample_field_colors(const float* pts, float* rgb, uint32_t n, void* user) {
    field_sampler* fs = user;
    if (!fs->st) fs->st = field_colors(fs->n, fs->s, pts, rgb, n, fs->offset, fs->err);
}

vkd_status vkd_export_nerf(vkd_nerf* n, vkd_stream* s, const vkd_export_desc* desc, vkd_mesh* out, vkd_error* err) {
    vkd_export_desc d = desc ? *desc : (vkd_export_desc){0};
    uint32_t res = d.resolution ? d.resolution : 128;
    memset(out, 0, sizeof *out);
    vkd_gpu* gpu = vkd_stream_gpu(s);
    float bound = vkd_nerf_desc_of(n)->field.bound;
    if (!(bound > 0)) bound = 1;
    size_t n3 = (size_t)res * res * res;
    vkd_buffer grid = {0};
    float* host = malloc(n3 * sizeof(float));
    vkd_status st = host ? vkd_buffer_alloc(gpu, n3 * sizeof(float), &grid, err)
                         : vkd_error_set(err, VKD_ERR_OUT_OF_MEMORY, "export: out of host memory");
    if (!st) st = vkd_nerf_density_grid(n, s, grid.addr, res, bound, err);
    if (!st) st = vkd_stream_submit(s, err);
    if (!st) st = vkd_buffer_download(gpu, &grid, 0, host, n3 * sizeof(float), err);
    if (grid.addr) vkd_buffer_free(gpu, &grid);
    if (st) {
        free(host);
        return st;
    }
    // The grid is out[(i res + j) res + k] with i along x: transpose to z-major for marching cubes.
    float* zyx = malloc(n3 * sizeof(float));
    if (!zyx) {
        free(host);
        return vkd_error_set(err, VKD_ERR_OUT_OF_MEMORY, "export: out of host memory");
    }
    for (uint32_t i = 0; i < res; i++)
        for (uint32_t j = 0; j < res; j++)
            for (uint32_t k = 0; k < res; k++) zyx[((size_t)k * res + j) * res + i] = host[((size_t)i * res + j) * res + k];
    free(host);
    float voxel = 2 * bound / (float)(res - 1);
    vkd_grid_desc g = {.density = zyx, .nx = (int)res, .ny = (int)res, .nz = (int)res,
                       .bmin = {-bound, -bound, -bound}, .bmax = {bound, bound, bound}};
    st = vkd_marching_cubes(&g, d.iso > 0 ? d.iso : logf(2.0f) / voxel, out, err);
    free(zyx);
    if (st) return st;
    // Colors: the field's albedo just inside the surface.
    uint32_t nv = out->nverts;
    float* p = malloc((size_t)nv * 3 * sizeof(float));
    out->colors = malloc((size_t)nv * 3 * sizeof(float));
    if (!p || !out->colors) st = vkd_error_set(err, VKD_ERR_OUT_OF_MEMORY, "export: out of host memory");
    for (uint32_t v = 0; v < nv && !st; v++)
        for (int a = 0; a < 3; a++) p[3 * v + a] = out->positions[3 * v + a] - 0.5f * voxel * out->normals[3 * v + a];
    float zero[3] = {0, 0, 0};
    if (!st) st = field_colors(n, s, p, out->colors, nv, zero, err);
    free(p);
    float off[3];
    if (!st) finish(out, &d, off);
    if (!st && d.texture) {
        field_sampler fs = {n, s, {off[0], off[1], off[2]}, VKD_OK, err};
        st = vkd_mesh_bake_texture(out, d.texture, sample_field_colors, &fs, err);
        if (!st) st = fs.st;
    }
    return st;
}

vkd_status vkd_export_write(const vkd_mesh* m, const char* format, const char* path, vkd_error* err) {
    char png[4200];
    vkd_mesh_texture tex = {.uvs = m->uvs, .png_path = png};
    if (m->texture) {
        if (!strcmp(format, "ply"))
            return vkd_error_set(err, VKD_ERR_INVALID, "%s: PLY cannot carry a texture: use obj or glb", path);
        snprintf(png, sizeof png, "%s", path);
        char* dot = strrchr(png, '.');
        char* slash = strrchr(png, '/');
        if (dot && (!slash || dot > slash)) *dot = 0;
        strncat(png, ".png", sizeof png - strlen(png) - 1);
        vkd_image img = {.width = (int)m->texture_size, .height = (int)m->texture_size, .channels = 3,
                         .pixels = m->texture};
        vkd_status st = vkd_png_write(png, &img, err);
        if (st) return st;
    }
    const vkd_mesh_texture* t = m->texture ? &tex : NULL;
    if (!strcmp(format, "obj")) return vkd_mesh_write_obj(m, t, path, err);
    if (!strcmp(format, "ply")) return vkd_mesh_write_ply(m, path, err);
    if (!strcmp(format, "glb")) return vkd_mesh_write_glb(m, t, path, err);
    return vkd_error_set(err, VKD_ERR_INVALID, "mesh format '%s': expected obj, ply or glb", format);
}

vkd_status vkd_export_repr_mesh(vkd_gpu* gpu, vkd_stream* s, vkd_repr* repr, const char* format, const char* out_dir,
                                const vkd_export_desc* desc, vkd_error* err) {
    (void)gpu;
    vkd_mesh m = {0};
    vkd_status st;
    if (!strcmp(repr->vt->kind, "nerf")) {
        st = vkd_export_nerf(vkd_repr_nerf_get(repr), s, desc, &m, err);
    } else {
        vkd_gaussians_host h = {0};
        st = vkd_gaussians_download(vkd_repr_gaussians_get(repr), s, VKD_GAUSSIANS_PARAMS, &h, err);
        if (!st) st = vkd_export_gaussians(&h, desc, &m, err);
        vkd_gaussians_host_free(&h);
    }
    char path[4200];
    snprintf(path, sizeof path, "%s/asset.%s", out_dir, format);
    if (!st) st = vkd_export_write(&m, format, path, err);
    vkd_mesh_free(&m);
    return st ? vkd_error_prefix(err, "mesh export: ") : VKD_OK;
}
