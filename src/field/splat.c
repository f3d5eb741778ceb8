// Gaussian splatting on the GPU: projection, tile binning (count -> exclusive scan -> emit keys
// -> radix sort -> per-tile ranges), tile rasterization, and the backward of all of it.
// Kernels: shaders/field/splat_*.comp; the scan and sort are the nn ones.
#include "vkdream/splat.h"
#include "vkdream/nn/scan.h"
#include "vkdream/nn/sort.h"
#include "field/splat.h"
#include "vkd_shaders.h"

#include <assert.h>
#include <stdlib.h>
#include <string.h>

static_assert(SPLAT_TILE == VKD_SPLAT_TILE, "tile size differs between the shader header and the API");
static_assert(SPLAT_TILE * SPLAT_TILE == SPLAT_TILE_PIXELS, "a rasterizer batch is one Gaussian per pixel");

// A scratch buffer that only grows.
typedef struct scratch {
    vkd_buffer b;
    size_t cap;  // bytes usable (0 = not allocated)
} scratch;

struct vkd_splat_ctx {
    vkd_gpu* gpu;
    bool cas_atomics;
    uint32_t ppt;  // pixels per rasterizer invocation (spec constant of splat_raster*.comp)
    scratch cams, proj, counts, offsets, scan_tmp, keys, values, sort_tmp, ranges, final_t, last, grad2d;
    scratch radii, normals;  // per (view, Gaussian): pixel radius; normal (only with a normals image)
    // The latest forward, for the backward and for vkd_splat_ctx_stats.
    bool have_forward, have_normals;
    uint32_t views, n, width, height, tiles_x, tiles_y, total, key_bits, sh_degree, sh_stride;
    float bg[3];
};

#define SCRATCH_LIST(c)                                                                                       \
    &(c)->cams, &(c)->proj, &(c)->counts, &(c)->offsets, &(c)->scan_tmp, &(c)->keys, &(c)->values,            \
        &(c)->sort_tmp, &(c)->ranges, &(c)->final_t, &(c)->last, &(c)->grad2d, &(c)->radii, &(c)->normals

vkd_status vkd_splat_ctx_create(vkd_gpu* gpu, const vkd_splat_desc* desc, vkd_splat_ctx** out, vkd_error* err) {
    vkd_splat_ctx* c = calloc(1, sizeof *c);
    if (!c) return vkd_error_set(err, VKD_ERR_OUT_OF_MEMORY, "splat: out of host memory for the render context");
    c->gpu = gpu;
    const vkd_gpu_info* info = vkd_gpu_get_info(gpu);
    c->cas_atomics = (desc && desc->force_cas_atomics) || !info->float_atomics;
    // llvmpipe runs a workgroup on one CPU thread: a 16-invocation workgroup owning whole tile
    // columns has cheaper barriers and one subgroup reduction per 16 pixels in the backward
    // (about 4x faster than one pixel per invocation). GPUs want the parallelism.
    c->ppt = info->kind == VKD_DEVICE_CPU ? 16 : 1;
    if (desc && desc->pixels_per_thread) {
        uint32_t v = desc->pixels_per_thread;
        if (v > SPLAT_TILE || SPLAT_TILE % v) {
            free(c);
            return vkd_error_set(err, VKD_ERR_INVALID, "splat: pixels_per_thread = %u, expected 1, 2, 4, 8 or 16", v);
        }
        c->ppt = v;
    }
    *out = c;
    return VKD_OK;
}

void vkd_splat_ctx_destroy(vkd_splat_ctx* c) {
    if (!c) return;
    scratch* all[] = {SCRATCH_LIST(c)};
    for (size_t k = 0; k < sizeof all / sizeof all[0]; k++)
        if (all[k]->cap) vkd_buffer_free(c->gpu, &all[k]->b);
    free(c);
}

uint64_t vkd_splat_ctx_bytes(const vkd_splat_ctx* c) {
    const scratch* all[] = {SCRATCH_LIST(c)};
    uint64_t total = 0;
    for (size_t k = 0; k < sizeof all / sizeof all[0]; k++) total += all[k]->cap;
    return total;
}

void vkd_splat_ctx_stats(const vkd_splat_ctx* c, vkd_splat_stats* out) {
    memset(out, 0, sizeof *out);
    if (!c->have_forward) return;
    out->views = c->views;
    out->count = c->n;
    out->width = c->width;
    out->height = c->height;
    out->tiles = c->tiles_x * c->tiles_y;
    out->intersections = c->total;
    out->key_bits = c->key_bits;
}

// Makes sure buf holds `bytes`. Growing frees the old buffer, which work recorded on s may still
// use, so the stream is submitted first (once per call: *flushed remembers it).
static vkd_status ensure(vkd_splat_ctx* c, vkd_stream* s, scratch* buf, uint64_t bytes, bool* flushed,
                         const char* what, vkd_error* err) {
    if (bytes <= buf->cap) return VKD_OK;
    if (!*flushed) {
        vkd_status st = vkd_stream_submit(s, err);
        if (st) return st;
        *flushed = true;
    }
    if (buf->cap) vkd_buffer_free(c->gpu, &buf->b);
    buf->cap = 0;
    // Headroom so a slowly growing list (training densifies) does not reallocate every call.
    uint64_t want = bytes + bytes / 4;
    if (want < 256) want = 256;
    vkd_status st = vkd_buffer_alloc(c->gpu, (size_t)want, &buf->b, err);
    if (st) return vkd_error_prefix(err, "splat: allocating %s (%.1f MiB): ", what, (double)want / (1 << 20));
    buf->cap = (size_t)want;
    return VKD_OK;
}

static vkd_status check_params(const char* op, const vkd_splat_params* p, const vkd_camera* cams, int views,
                               vkd_error* err) {
    if (!p) return vkd_error_set(err, VKD_ERR_INVALID, "%s: params is NULL", op);
    if (views < 1 || !cams)
        return vkd_error_set(err, VKD_ERR_INVALID, "%s: need at least one camera (views = %d, cams %s)", op, views,
                             cams ? "set" : "NULL");
    if (p->sh_degree < 0 || p->sh_degree > VKD_SPLAT_MAX_SH_DEGREE)
        return vkd_error_set(err, VKD_ERR_INVALID, "%s: sh_degree = %d, expected 0..%d", op, p->sh_degree,
                             VKD_SPLAT_MAX_SH_DEGREE);
    uint32_t need = (uint32_t)((p->sh_degree + 1) * (p->sh_degree + 1));
    if (p->sh_stride && p->sh_stride < need)
        return vkd_error_set(err, VKD_ERR_INVALID, "%s: sh_stride = %u coefficients, degree %d needs at least %u", op,
                             p->sh_stride, p->sh_degree, need);
    if (p->count && (!p->means || !p->log_scales || !p->quats || !p->opacity_logits || !p->sh))
        return vkd_error_set(err, VKD_ERR_INVALID,
                             "%s: %u Gaussians but a parameter address is 0 (means, log_scales, quats, "
                             "opacity_logits and sh are all required)",
                             op, p->count);
    int w = cams[0].width, h = cams[0].height;
    if (w < 1 || h < 1 || w > 65535 * SPLAT_TILE || h > 65535 * SPLAT_TILE)
        return vkd_error_set(err, VKD_ERR_INVALID, "%s: camera 0 is %dx%d pixels, expected 1..%d per side", op, w, h,
                             65535 * SPLAT_TILE);
    for (int b = 1; b < views; b++)
        if (cams[b].width != w || cams[b].height != h)
            return vkd_error_set(err, VKD_ERR_INVALID,
                                 "%s: camera %d is %dx%d but camera 0 is %dx%d; all views of a call share one size", op,
                                 b, cams[b].width, cams[b].height, w, h);
    for (int b = 0; b < views; b++)
        if (!(cams[b].fx > 0 && cams[b].fy > 0))
            return vkd_error_set(err, VKD_ERR_INVALID, "%s: camera %d has focal lengths fx = %g, fy = %g, expected > 0",
                                 op, b, cams[b].fx, cams[b].fy);
    // Kernels index (view, Gaussian) pairs and their 12-float records with 32-bit integers.
    if ((uint64_t)p->count * (uint64_t)views * SPLAT_PROJ_FLOATS > UINT32_MAX)
        return vkd_error_set(err, VKD_ERR_UNSUPPORTED,
                             "%s: %u Gaussians x %d views exceeds the 32-bit indexing limit (%u pairs); render fewer "
                             "views per call",
                             op, p->count, views, UINT32_MAX / SPLAT_PROJ_FLOATS);
    uint64_t tiles = (uint64_t)((w + SPLAT_TILE - 1) / SPLAT_TILE) * (uint64_t)((h + SPLAT_TILE - 1) / SPLAT_TILE);
    if (tiles * (uint64_t)views * 2 > UINT32_MAX || (uint64_t)w * h * views * 3 > UINT32_MAX)
        return vkd_error_set(err, VKD_ERR_UNSUPPORTED, "%s: %d views of %dx%d pixels exceed the 32-bit indexing limit",
                             op, views, w, h);
    return VKD_OK;
}

// Camera b into the camera buffer, recorded on the stream (so it is ordered with the kernels
// that read it, unlike a host upload).
static void record_cameras(vkd_splat_ctx* c, vkd_stream* s, const vkd_camera* cams, int views) {
    for (int b = 0; b < views; b++) {
        const float* m = cams[b].viewmat;
        float pos[3];
        vkd_camera_position(&cams[b], pos);
        vkd_splat_cam_push cp = {
            .cams = c->cams.b.addr, .view = (uint32_t)b,
            .r00 = m[0], .r01 = m[1], .r02 = m[2], .r10 = m[4], .r11 = m[5], .r12 = m[6],
            .r20 = m[8], .r21 = m[9], .r22 = m[10], .t0 = m[3], .t1 = m[7], .t2 = m[11],
            .fx = cams[b].fx, .fy = cams[b].fy, .cx = cams[b].cx, .cy = cams[b].cy,
            .znear = cams[b].near_plane, .zfar = cams[b].far_plane, .px = pos[0], .py = pos[1], .pz = pos[2],
        };
        vkd_stream_dispatch(s, VKD_KERNEL(field_splat_cam), &cp, sizeof cp, 1, 1, 1);
    }
}

static uint32_t bits_for(uint64_t count) {  // bits to tell `count` values apart
    uint32_t b = 0;
    while (b < 64 && (count - 1) >> b) b++;
    return b;
}

vkd_status vkd_splat_forward(vkd_splat_ctx* c, vkd_stream* s, const vkd_splat_outputs* out,
                             const vkd_splat_params* p, const vkd_camera* cams, int views, const float bg[3],
                             vkd_error* err) {
    vkd_status st = check_params("splat_forward", p, cams, views, err);
    if (st) return st;
    c->have_forward = false;
    bool normals = out && out->normal;
    uint32_t n = p->count, B = (uint32_t)views;
    uint32_t W = (uint32_t)cams[0].width, H = (uint32_t)cams[0].height;
    uint32_t tx = (W + SPLAT_TILE - 1) / SPLAT_TILE, ty = (H + SPLAT_TILE - 1) / SPLAT_TILE;
    uint32_t tiles = tx * ty;
    uint64_t pairs = (uint64_t)n * B, pixels = (uint64_t)W * H * B;
    uint32_t sh_stride = p->sh_stride ? p->sh_stride : (uint32_t)((p->sh_degree + 1) * (p->sh_degree + 1));

    bool flushed = false;
    if ((st = ensure(c, s, &c->cams, (uint64_t)B * SPLAT_CAM_FLOATS * 4, &flushed, "cameras", err)) ||
        (st = ensure(c, s, &c->proj, pairs * SPLAT_PROJ_FLOATS * 4, &flushed, "projected Gaussians", err)) ||
        (st = ensure(c, s, &c->counts, pairs * 4, &flushed, "tile counts", err)) ||
        (st = ensure(c, s, &c->radii, pairs * 4, &flushed, "pixel radii", err)) ||
        (normals && (st = ensure(c, s, &c->normals, pairs * SPLAT_NORMAL_FLOATS * 4, &flushed, "normals", err))) ||
        (st = ensure(c, s, &c->offsets, (pairs + 1) * 4, &flushed, "tile offsets", err)) ||
        (st = ensure(c, s, &c->scan_tmp, vkd_scan_scratch_bytes((uint32_t)pairs), &flushed, "scan scratch", err)) ||
        (st = ensure(c, s, &c->ranges, (uint64_t)tiles * B * 2 * 4, &flushed, "tile ranges", err)) ||
        (st = ensure(c, s, &c->final_t, pixels * 4, &flushed, "final transmittance", err)) ||
        (st = ensure(c, s, &c->last, pixels * 4, &flushed, "last contributors", err)))
        return st;

    // Projection and the scan of the tile counts; then the one read-back: the list's length.
    uint32_t total = 0;
    if (n) {
        record_cameras(c, s, cams, views);
        vkd_splat_project_push pp = {
            .means = p->means, .log_scales = p->log_scales, .quats = p->quats, .opacity_logits = p->opacity_logits,
            .sh = p->sh, .cams = c->cams.b.addr, .proj = c->proj.b.addr, .counts = c->counts.b.addr,
            .radii = c->radii.b.addr, .normals = normals ? c->normals.b.addr : 0, .n = n, .views = B, .sh_degree = (uint32_t)p->sh_degree, .sh_stride = sh_stride,
            .width = W, .height = H, .tiles_x = tx, .tiles_y = ty,
        };
        vkd_stream_dispatch_1d(s, VKD_KERNEL(field_splat_project), &pp, sizeof pp, pairs, 128);
        vkd_scan_exclusive_u32(s, c->offsets.b.addr, c->counts.b.addr, (uint32_t)pairs, c->scan_tmp.b.addr);
        if ((st = vkd_stream_submit(s, err))) return vkd_error_prefix(err, "splat_forward: ");
        if ((st = vkd_buffer_download(c->gpu, &c->offsets.b, (size_t)pairs * 4, &total, 4, err)))
            return vkd_error_prefix(err, "splat_forward: reading the list length: ");
        if (total > (UINT32_MAX >> 1))
            return vkd_error_set(err, VKD_ERR_UNSUPPORTED,
                                 "splat_forward: %u Gaussian-tile pairs exceed the 2^31 the list can index; "
                                 "render smaller images or fewer views per call",
                                 total);
        flushed = true;  // nothing is pending on s now
    }
    uint32_t key_bits = 32 + bits_for((uint64_t)tiles * B);
    if (total) {
        if ((st = ensure(c, s, &c->keys, (uint64_t)total * 8, &flushed, "sort keys", err)) ||
            (st = ensure(c, s, &c->values, (uint64_t)total * 4, &flushed, "sort values", err)) ||
            (st = ensure(c, s, &c->sort_tmp, vkd_sort_scratch_bytes(total), &flushed, "sort scratch", err)))
            return st;
        vkd_splat_emit_push ep = {
            .proj = c->proj.b.addr, .offsets = c->offsets.b.addr, .keys = c->keys.b.addr, .values = c->values.b.addr,
            .n = n, .views = B, .tiles_per_view = tiles, .tiles_x = tx,
        };
        vkd_stream_dispatch_1d(s, VKD_KERNEL(field_splat_emit), &ep, sizeof ep, pairs, 128);
        if (total > 1) vkd_sort_pairs_u64(s, c->keys.b.addr, c->values.b.addr, total, key_bits, c->sort_tmp.b.addr);
    }
    vkd_stream_fill(s, c->ranges.b.addr, tiles * B * 2, 0);
    if (total) {
        vkd_splat_ranges_push rp = {.keys = c->keys.b.addr, .ranges = c->ranges.b.addr, .total = total};
        vkd_stream_dispatch_1d(s, VKD_KERNEL(field_splat_ranges), &rp, sizeof rp, total, 256);
    }
    float bgc[3] = {bg ? bg[0] : 0.0f, bg ? bg[1] : 0.0f, bg ? bg[2] : 0.0f};
    vkd_splat_raster_push rp = {
        .proj = c->proj.b.addr, .ranges = c->ranges.b.addr, .values = c->values.cap ? c->values.b.addr : 0,
        .rgb = out ? out->rgb : 0, .alpha = out ? out->alpha : 0, .depth = out ? out->depth : 0,
        .final_t = c->final_t.b.addr, .last = c->last.b.addr,
        .normals = normals ? c->normals.b.addr : 0, .normal = normals ? out->normal : 0,
        .n = n, .width = W, .height = H, .tiles_x = tx, .tiles_per_view = tiles,
        .bg_r = bgc[0], .bg_g = bgc[1], .bg_b = bgc[2],
    };
    vkd_kernel_desc raster = VKD_KERNEL_SPEC(field_splat_raster, c->ppt, SPLAT_TILE / c->ppt, normals);
    vkd_stream_dispatch(s, raster, &rp, sizeof rp, tx, ty, B);

    c->have_forward = true;
    c->have_normals = normals;
    c->views = B, c->n = n, c->width = W, c->height = H, c->tiles_x = tx, c->tiles_y = ty;
    c->total = total, c->key_bits = key_bits, c->sh_degree = (uint32_t)p->sh_degree, c->sh_stride = sh_stride;
    memcpy(c->bg, bgc, sizeof bgc);
    return VKD_OK;
}

vkd_status vkd_splat_backward(vkd_splat_ctx* c, vkd_stream* s, const vkd_splat_grads* g,
                              const vkd_splat_densify_stats* stats, const vkd_splat_outputs* dout,
                              const vkd_splat_params* p, const vkd_camera* cams, int views, vkd_error* err) {
    vkd_status st = check_params("splat_backward", p, cams, views, err);
    if (st) return st;
    if (!c->have_forward)
        return vkd_error_set(err, VKD_ERR_INVALID, "splat_backward: no forward on this context to backpropagate");
    if (p->count != c->n || (uint32_t)views != c->views || (uint32_t)cams[0].width != c->width ||
        (uint32_t)cams[0].height != c->height || (uint32_t)p->sh_degree != c->sh_degree)
        return vkd_error_set(err, VKD_ERR_INVALID,
                             "splat_backward: %u Gaussians (SH degree %d), %d views of %dx%d, but the latest forward "
                             "had %u (degree %u), %u views of %ux%u; run the backward after its own forward",
                             p->count, p->sh_degree, views, cams[0].width, cams[0].height, c->n, c->sh_degree,
                             c->views, c->width, c->height);
    vkd_splat_outputs none = {0};
    if (!dout) dout = &none;
    if (dout->normal && !c->have_normals)
        return vkd_error_set(err, VKD_ERR_INVALID,
                             "splat_backward: dout->normal is set but the latest forward rendered no normals image; "
                             "set out->normal in the forward");
    uint32_t n = c->n, B = c->views;
    uint64_t pairs = (uint64_t)n * B;
    if (!c->total || !n) return VKD_OK;  // nothing was drawn: every gradient and statistic is unchanged
    vkd_splat_grads no_grads = {0};
    if (!g) g = &no_grads;
    vkd_splat_densify_stats no_stats = {0};
    if (!stats) stats = &no_stats;
    bool want_params = g->means || g->log_scales || g->quats || g->opacity_logits || g->sh;
    bool want_stats = stats->grad2d_norm || stats->vis_count || stats->max_radius;
    bool any_dout = dout->rgb || dout->alpha || dout->depth || dout->normal;
    if (!want_params && !want_stats) return VKD_OK;
    if (!any_dout && !want_stats) return VKD_OK;

    // The normal's gradient extends each (view, Gaussian) record only when there is one.
    bool normals = dout->normal != 0;
    uint32_t gf = normals ? SPLAT_G_FLOATS_NORMALS : SPLAT_G_FLOATS;
    if (pairs * gf > UINT32_MAX)  // check_params covered 12 floats per pair, this record may be 13
        return vkd_error_set(err, VKD_ERR_UNSUPPORTED,
                             "splat_backward: %u Gaussians x %u views with a normals gradient exceed the 32-bit "
                             "indexing limit; backpropagate fewer views per call",
                             n, B);
    bool flushed = false;
    if ((st = ensure(c, s, &c->grad2d, pairs * gf * 4, &flushed, "2D gradients", err))) return st;
    record_cameras(c, s, cams, views);
    vkd_stream_fill(s, c->grad2d.b.addr, (uint32_t)(pairs * gf), 0);
    if (any_dout) {
        vkd_splat_raster_bwd_push rb = {
            .proj = c->proj.b.addr, .ranges = c->ranges.b.addr, .values = c->values.b.addr,
            .final_t = c->final_t.b.addr, .last = c->last.b.addr,
            .d_rgb = dout->rgb, .d_alpha = dout->alpha, .d_depth = dout->depth, .grad2d = c->grad2d.b.addr,
            .normals = normals ? c->normals.b.addr : 0, .d_normal = dout->normal,
            .n = n, .width = c->width, .height = c->height, .tiles_x = c->tiles_x,
            .tiles_per_view = c->tiles_x * c->tiles_y, .bg_r = c->bg[0], .bg_g = c->bg[1], .bg_b = c->bg[2],
        };
        vkd_kernel_desc k = c->cas_atomics
                                ? VKD_KERNEL_SPEC(field_splat_raster_bwd_cas, c->ppt, SPLAT_TILE / c->ppt, normals)
                                : VKD_KERNEL_SPEC(field_splat_raster_bwd, c->ppt, SPLAT_TILE / c->ppt, normals);
        vkd_stream_dispatch(s, k, &rb, sizeof rb, c->tiles_x, c->tiles_y, B);
    }
    if (want_params) {
        vkd_splat_project_bwd_push pb = {
            .means = p->means, .log_scales = p->log_scales, .quats = p->quats, .opacity_logits = p->opacity_logits,
            .sh = p->sh, .cams = c->cams.b.addr, .counts = c->counts.b.addr, .grad2d = c->grad2d.b.addr,
            .g_means = g->means, .g_log_scales = g->log_scales, .g_quats = g->quats,
            .g_opacity_logits = g->opacity_logits, .g_sh = g->sh,
            .n = n, .views = B, .sh_degree = c->sh_degree, .sh_stride = c->sh_stride,
            .width = c->width, .height = c->height,
        };
        vkd_stream_dispatch_1d(s, VKD_KERNEL_SPEC(field_splat_project_bwd, normals), &pb, sizeof pb, n, 64);
    }
    if (want_stats) {
        vkd_splat_stats_push sp = {
            .counts = c->counts.b.addr, .grad2d = c->grad2d.b.addr, .radii = c->radii.b.addr,
            .grad2d_norm = stats->grad2d_norm, .vis_count = stats->vis_count, .max_radius = stats->max_radius,
            .n = n, .views = B, .width = c->width, .height = c->height, .g_floats = gf,
        };
        vkd_stream_dispatch_1d(s, VKD_KERNEL(field_splat_stats), &sp, sizeof sp, n, 128);
    }
    return VKD_OK;
}
