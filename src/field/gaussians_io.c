// Gaussian model I/O on the device: 3DGS .ply save / load (the format itself is in
// gaussians_ply.c) and checkpoints (safetensors with the optimizer state).
#include "field/gaussians_internal.h"
#include "field/gaussians.h"
#include "vkdream/safetensors.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static uint32_t coefs_of(int deg) { return (uint32_t)((deg + 1) * (deg + 1)); }

// ---------------------------------------------------------------------------
// Device-side save / load

vkd_status vkd_gaussians_save_ply(vkd_gaussians* g, vkd_stream* s, const char* path, vkd_error* err) {
    vkd_gaussians_host h;
    vkd_status st = vkd_gaussians_download(g, s, VKD_GAUSSIANS_PARAMS, &h, err);
    if (st) return vkd_error_prefix(err, "gaussians_save_ply: '%s': ", path ? path : "(null)");
    st = vkd_gaussians_ply_write(path, &h, err);
    vkd_gaussians_host_free(&h);
    return st;
}

vkd_status vkd_gaussians_load_ply(vkd_gpu* gpu, vkd_stream* s, const char* path, const vkd_gaussians_desc* desc,
                                  vkd_gaussians** out, vkd_error* err) {
    *out = NULL;
    vkd_gaussians_host h;
    vkd_status st = vkd_gaussians_ply_read(path, &h, err);
    if (st) return st;
    vkd_gaussians_desc d = desc ? *desc : (vkd_gaussians_desc){0};
    vkd_gaussians_host padded = h;
    if (d.sh_degree < 0 || d.sh_degree > VKD_GAUSSIANS_MAX_SH_DEGREE) {
        st = vkd_error_set(err, VKD_ERR_INVALID, "desc sh_degree = %d, expected 0..3", d.sh_degree);
        goto done;
    }
    int deg = d.sh_degree > h.sh_degree ? d.sh_degree : h.sh_degree;
    if (deg != h.sh_degree) {
        // Higher bands start at zero: copy the file's coefficients into the wider rows.
        if ((st = vkd_gaussians_host_alloc(&padded, h.count, deg, err))) goto done;
        memcpy(padded.data, h.data, (size_t)h.count * GAUSSIANS_OFF_SH * sizeof(float));
        uint32_t Kf = coefs_of(h.sh_degree), Kd = coefs_of(deg);
        for (uint32_t i = 0; i < h.count; i++)
            memcpy(padded.sh + (size_t)i * Kd * 3, h.sh + (size_t)i * Kf * 3, (size_t)Kf * 3 * sizeof(float));
    }
    d.sh_degree = deg;
    if (d.capacity < h.count) d.capacity = h.count;
    if ((st = vkd_gaussians_create(gpu, &d, out, err))) goto done;
    if ((st = vkd_gaussians_replace(*out, s, &padded, NULL, NULL, err))) {
        vkd_gaussians_destroy(*out);
        *out = NULL;
    }
done:
    if (padded.data != h.data) vkd_gaussians_host_free(&padded);
    vkd_gaussians_host_free(&h);
    return st ? vkd_error_prefix(err, "gaussians_load_ply: '%s': ", path) : VKD_OK;
}

// ---------------------------------------------------------------------------
// Checkpoints

static const char* const group_names[VKD_GAUSSIANS_GROUP_COUNT] = {"means", "log_scales", "quats", "opacity_logits",
                                                                    "sh"};
static const char* const buffer_prefix[VKD_GAUSSIANS_BUFFER_COUNT] = {"params", NULL, "adam_m", "adam_v"};
static const char* const stat_names[GAUSSIANS_STAT_COUNT] = {"stats.grad2d_norm", "stats.vis_count",
                                                             "stats.max_radius"};

static int group_shape(vkd_gaussians_group grp, uint32_t n, int deg, int64_t shape[3]) {
    shape[0] = n;
    switch (grp) {
    case VKD_GAUSSIANS_OPACITY: return 1;
    case VKD_GAUSSIANS_QUATS: shape[1] = 4; return 2;
    case VKD_GAUSSIANS_SH: shape[1] = coefs_of(deg), shape[2] = 3; return 3;
    default: shape[1] = 3; return 2;
    }
}

vkd_status vkd_gaussians_save_checkpoint(vkd_gaussians* g, vkd_stream* s, const char* path, vkd_error* err) {
    vkd_gaussians_host h[VKD_GAUSSIANS_BUFFER_COUNT] = {{0}};
    float* stats = malloc(((size_t)g->count * GAUSSIANS_STAT_COUNT + 1) * sizeof(float));
    vkd_status st = stats ? VKD_OK : vkd_error_set(err, VKD_ERR_OUT_OF_MEMORY, "out of host memory");
    for (int b = 0; !st && b < VKD_GAUSSIANS_BUFFER_COUNT; b++)
        if (buffer_prefix[b]) st = vkd_gaussians_download(g, s, (vkd_gaussians_buffer)b, &h[b], err);
    if (!st) st = vkd_gaussians_download_stats(g, s, stats, stats + g->count, stats + 2 * (size_t)g->count, err);
    if (!st) {
        vkd_tensor_write t[3 * VKD_GAUSSIANS_GROUP_COUNT + GAUSSIANS_STAT_COUNT];
        char names[3 * VKD_GAUSSIANS_GROUP_COUNT][40];
        size_t nt = 0;
        for (int b = 0; b < VKD_GAUSSIANS_BUFFER_COUNT; b++) {
            if (!buffer_prefix[b]) continue;
            for (int grp = 0; grp < VKD_GAUSSIANS_GROUP_COUNT; grp++) {
                snprintf(names[nt], sizeof names[nt], "%s.%s", buffer_prefix[b], group_names[grp]);
                t[nt] = (vkd_tensor_write){.name = names[nt], .dtype = VKD_DTYPE_F32};
                t[nt].ndim = group_shape((vkd_gaussians_group)grp, g->count, g->sh_degree, t[nt].shape);
                t[nt].data = h[b].data + vkd_gaussians_group_offset((vkd_gaussians_group)grp, g->count, g->sh_degree);
                nt++;
            }
        }
        for (int k = 0; k < GAUSSIANS_STAT_COUNT; k++)
            t[nt++] = (vkd_tensor_write){.name = stat_names[k], .dtype = VKD_DTYPE_F32, .ndim = 1,
                                         .shape = {g->count}, .data = stats + (size_t)k * g->count};
        char step[16], deg[8], active[8], extent[32], seed[16], calls[16];
        snprintf(step, sizeof step, "%u", g->step);
        snprintf(deg, sizeof deg, "%d", g->sh_degree);
        snprintf(active, sizeof active, "%d", g->active_sh_degree);
        snprintf(extent, sizeof extent, "%.9g", (double)g->extent);
        snprintf(seed, sizeof seed, "%u", g->seed);
        snprintf(calls, sizeof calls, "%u", g->densify_calls);
        const char* meta[] = {"format", "vkdream-gaussians", "version", "1", "step", step, "sh_degree", deg,
                              "active_sh_degree", active, "scene_extent", extent, "seed", seed, "densify_calls",
                              calls, NULL};
        st = vkd_safetensors_write(path, t, nt, meta, err);
    }
    for (int b = 0; b < VKD_GAUSSIANS_BUFFER_COUNT; b++) vkd_gaussians_host_free(&h[b]);
    free(stats);
    return st ? vkd_error_prefix(err, "gaussians_save_checkpoint: ") : VKD_OK;
}

static vkd_status meta_u32(const vkd_safetensors* st, const char* key, uint32_t max, uint32_t* out, vkd_error* err) {
    const char* v = vkd_safetensors_metadata(st, key);
    char* end = NULL;
    errno = 0;
    unsigned long long x = v ? strtoull(v, &end, 10) : 0;
    if (!v || !*v || *end || errno || x > max || v[0] == '-')
        return vkd_error_set(err, VKD_ERR_INVALID, "'%s': metadata '%s' is %s%s%s, expected an integer 0..%u",
                             vkd_safetensors_path(st), key, v ? "'" : "missing", v ? v : "", v ? "'" : "", max);
    *out = (uint32_t)x;
    return VKD_OK;
}

vkd_status vkd_gaussians_load_checkpoint(vkd_gpu* gpu, vkd_stream* s, const char* path,
                                         const vkd_gaussians_desc* desc, vkd_gaussians** out, vkd_error* err) {
    *out = NULL;
    vkd_safetensors* sf;
    vkd_status st = vkd_safetensors_open(path, &sf, err);
    if (st) return vkd_error_prefix(err, "gaussians_load_checkpoint: ");
    vkd_gaussians_host h[VKD_GAUSSIANS_BUFFER_COUNT] = {{0}};
    float* stats = NULL;
    vkd_gaussians* g = NULL;
    const char* fmt = vkd_safetensors_metadata(sf, "format");
    const char* ver = vkd_safetensors_metadata(sf, "version");
    uint32_t step = 0, deg = 0, active = 0, seed = 0, calls = 0, n = 0;
    if (!fmt || strcmp(fmt, "vkdream-gaussians")) {
        st = vkd_error_set(err, VKD_ERR_INVALID, "'%s': metadata format is '%s', expected 'vkdream-gaussians'", path,
                           fmt ? fmt : "(missing)");
        goto done;
    }
    if (!ver || strcmp(ver, "1")) {
        st = vkd_error_set(err, VKD_ERR_UNSUPPORTED, "'%s': checkpoint version '%s', this build reads version 1", path,
                           ver ? ver : "(missing)");
        goto done;
    }
    if ((st = meta_u32(sf, "step", UINT32_MAX, &step, err)) || (st = meta_u32(sf, "sh_degree", 3, &deg, err)) ||
        (st = meta_u32(sf, "active_sh_degree", deg, &active, err)) ||
        (st = meta_u32(sf, "seed", UINT32_MAX, &seed, err)) ||
        (st = meta_u32(sf, "densify_calls", UINT32_MAX, &calls, err)))
        goto done;
    const char* ext = vkd_safetensors_metadata(sf, "scene_extent");
    double extent = ext ? strtod(ext, NULL) : 0;
    if (!(extent > 0) || !isfinite(extent)) {
        st = vkd_error_set(err, VKD_ERR_INVALID, "'%s': metadata scene_extent is '%s', expected a positive number",
                           path, ext ? ext : "(missing)");
        goto done;
    }
    const vkd_tensor_info* ti = vkd_safetensors_find(sf, "params.means");
    if (!ti || ti->ndim != 2) {
        st = vkd_error_set(err, VKD_ERR_INVALID, "'%s': tensor 'params.means' is %s", path,
                           ti ? "not 2-D" : "missing");
        goto done;
    }
    if (ti->shape[0] > UINT32_MAX) {
        st = vkd_error_set(err, VKD_ERR_UNSUPPORTED, "'%s': %lld Gaussians, at most %u", path,
                           (long long)ti->shape[0], UINT32_MAX);
        goto done;
    }
    n = (uint32_t)ti->shape[0];
    for (int b = 0; b < VKD_GAUSSIANS_BUFFER_COUNT; b++) {
        if (!buffer_prefix[b]) continue;
        if ((st = vkd_gaussians_host_alloc(&h[b], n, (int)deg, err))) goto done;
        for (int grp = 0; grp < VKD_GAUSSIANS_GROUP_COUNT; grp++) {
            char name[40];
            int64_t shape[3];
            snprintf(name, sizeof name, "%s.%s", buffer_prefix[b], group_names[grp]);
            int nd = group_shape((vkd_gaussians_group)grp, n, (int)deg, shape);
            float* dst = h[b].data + vkd_gaussians_group_offset((vkd_gaussians_group)grp, n, (int)deg);
            if ((st = vkd_safetensors_expect(sf, name, nd, shape, NULL, err)) ||
                (st = vkd_safetensors_read_f32(sf, name, dst, (size_t)n * vkd_gaussians_group_width(grp, (int)deg),
                                               err)))
                goto done;
        }
    }
    stats = calloc((size_t)n * GAUSSIANS_STAT_COUNT + 1, sizeof(float));
    if (!stats) {
        st = vkd_error_set(err, VKD_ERR_OUT_OF_MEMORY, "out of host memory");
        goto done;
    }
    int64_t sshape[1] = {n};
    for (int k = 0; k < GAUSSIANS_STAT_COUNT; k++) {
        // stats.max_radius came later: files without it load with zeros (nothing tracked yet).
        if (k == GAUSSIANS_STAT_RADIUS && !vkd_safetensors_find(sf, stat_names[k])) continue;
        if ((st = vkd_safetensors_expect(sf, stat_names[k], 1, sshape, NULL, err)) ||
            (st = vkd_safetensors_read_f32(sf, stat_names[k], stats + (size_t)k * n, n, err)))
            goto done;
    }

    vkd_gaussians_desc d = desc ? *desc : (vkd_gaussians_desc){0};
    d.sh_degree = (int)deg;
    if (d.capacity < n) d.capacity = n;
    if (d.scene_extent == 0) d.scene_extent = (float)extent;
    if (d.seed == 0) d.seed = seed;
    if ((st = vkd_gaussians_create(gpu, &d, &g, err))) goto done;
    if ((st = vkd_gaussians_upload(g, s, &h[VKD_GAUSSIANS_PARAMS], &h[VKD_GAUSSIANS_ADAM_M],
                                   &h[VKD_GAUSSIANS_ADAM_V], err)))
        goto done;
    for (int k = 0; k < GAUSSIANS_STAT_COUNT; k++)
        if ((st = vkd_buffer_upload(gpu, &g->stats[k], 0, stats + (size_t)k * n, (size_t)n * 4, err))) goto done;
    g->step = step;
    g->active_sh_degree = (int)active;
    g->densify_calls = calls;
    *out = g;
    g = NULL;
done:
    vkd_gaussians_destroy(g);
    for (int b = 0; b < VKD_GAUSSIANS_BUFFER_COUNT; b++) vkd_gaussians_host_free(&h[b]);
    free(stats);
    vkd_safetensors_close(sf);
    return st ? vkd_error_prefix(err, "gaussians_load_checkpoint: ") : VKD_OK;
}
