// Adaptive density control on the device: decide (mark), scan the output rows, read back the
// new count, scatter into freshly laid out buffers. Kernels: shaders/field/gaussians_densify_*.
#include "field/gaussians_internal.h"
#include "field/gaussians.h"
#include "vkdream/nn/scan.h"
#include "vkd_shaders.h"

#include <math.h>
#include <string.h>

typedef struct densify_rules {
    float grad_threshold, percent_dense, min_opacity, max_scale, max_screen_radius;
    bool size_prune, densify;
} densify_rules;

static vkd_status resolve(const vkd_gaussians_densify_desc* desc, densify_rules* r, vkd_error* err) {
    vkd_gaussians_densify_desc d = desc ? *desc : (vkd_gaussians_densify_desc){0};
    r->grad_threshold = d.grad_threshold != 0 ? d.grad_threshold : 0.0002f;
    r->percent_dense = d.percent_dense != 0 ? d.percent_dense : 0.01f;
    r->min_opacity = d.min_opacity != 0 ? d.min_opacity : 0.005f;
    r->max_scale = d.max_scale != 0 ? d.max_scale : 0.1f;
    r->max_screen_radius = d.max_screen_radius;
    r->size_prune = !d.no_size_prune;
    r->densify = !d.prune_only;
    if (!(r->grad_threshold > 0) || !(r->percent_dense > 0) || !(r->min_opacity > 0 && r->min_opacity < 1) ||
        !(r->max_scale > 0) || !(r->max_screen_radius >= 0))
        return vkd_error_set(err, VKD_ERR_INVALID,
                             "gaussians_densify: need grad_threshold > 0, percent_dense > 0, 0 < min_opacity < 1, "
                             "max_scale > 0, max_screen_radius >= 0 (got %g, %g, %g, %g, %g)",
                             (double)r->grad_threshold, (double)r->percent_dense, (double)r->min_opacity,
                             (double)r->max_scale, (double)r->max_screen_radius);
    return VKD_OK;
}

uint32_t vkd_gaussians_densify_seed(const vkd_gaussians* g) {
    return vkd_gaussians_pcg(g->seed ^ vkd_gaussians_pcg(g->densify_calls));
}

#define SPLIT_DIV 1.6  // 3DGS: scales / (0.8 N) with N = 2 children

vkd_status vkd_gaussians_densify(vkd_gaussians* g, vkd_stream* s, const vkd_gaussians_densify_desc* desc,
                                 vkd_error* err) {
    densify_rules r;
    vkd_status st = resolve(desc, &r, err);
    if (st) return st;
    uint32_t n = g->count;
    if (n == 0) return vkd_stream_submit(s, err);
    vkd_gpu* gpu = g->gpu;

    // Scratch: flags (n), rows (n), offsets (n + 1), then the scan's own scratch.
    uint64_t scan_bytes = vkd_scan_scratch_bytes(n);
    uint64_t off_rows = (uint64_t)n * 4, off_offsets = off_rows * 2;
    uint64_t off_scan = (off_offsets + ((uint64_t)n + 1) * 4 + 255) & ~(uint64_t)255;
    vkd_buffer tmp;
    if ((st = vkd_buffer_alloc(gpu, off_scan + scan_bytes, &tmp, err)))
        return vkd_error_prefix(err, "gaussians_densify: scratch for %u Gaussians: ", n);
    vkd_addr flags = tmp.addr, rows = tmp.addr + off_rows, offsets = tmp.addr + off_offsets;

    vkd_gaussians_mark_push mp = {
        .params = g->buf[VKD_GAUSSIANS_PARAMS].addr,
        .grad2d = g->stats[GAUSSIANS_STAT_GRAD2D].addr,
        .vis = g->stats[GAUSSIANS_STAT_VIS].addr,
        .max_radius = g->stats[GAUSSIANS_STAT_RADIUS].addr,
        .flags = flags,
        .outputs = rows,
        .count = n,
        .cap = g->cap,
        .densify = r.densify,
        .size_prune = r.size_prune,
        .grad_threshold = r.grad_threshold,
        .dense_scale = r.percent_dense * g->extent,
        .min_opacity = r.min_opacity,
        .max_scale = r.max_scale * g->extent,
        .split_div = (float)SPLIT_DIV,
        .max_screen_radius = r.size_prune ? r.max_screen_radius : 0.0f,
    };
    vkd_stream_dispatch_1d(s, VKD_KERNEL(field_gaussians_densify_mark), &mp, sizeof mp, n, 256);
    vkd_scan_exclusive_u32(s, offsets, rows, n, scan_bytes ? tmp.addr + off_scan : 0);
    uint32_t total = 0;
    st = vkd_stream_submit(s, err);
    if (!st) st = vkd_buffer_download(gpu, &tmp, off_offsets + (uint64_t)n * 4, &total, 4, err);
    if (st) {
        vkd_buffer_free(gpu, &tmp);
        return vkd_error_prefix(err, "gaussians_densify: ");
    }

    // Destination: same capacity, or 1.5x (amortized growth) when the result does not fit.
    uint32_t cap = g->cap;
    if (total > cap) {
        uint64_t want = (uint64_t)cap + cap / 2;
        if (want < total) want = total;
        st = vkd_gaussians_check_capacity(g->row, want, &cap, err);
        if (st) st = vkd_gaussians_check_capacity(g->row, total, &cap, err);
    }
    vkd_buffer nb[VKD_GAUSSIANS_BUFFER_COUNT];
    if (!st) st = vkd_gaussians_alloc_flat(gpu, cap, g->row, nb, err);
    if (st) {
        vkd_buffer_free(gpu, &tmp);
        return vkd_error_prefix(err, "gaussians_densify: %u -> %u Gaussians: ", n, total);
    }
    vkd_buffer ns[GAUSSIANS_STAT_COUNT] = {{0}};
    if (cap != g->cap) {
        st = vkd_gaussians_alloc_stats(gpu, cap, ns, err);
        if (st) {
            for (int b = 0; b < VKD_GAUSSIANS_BUFFER_COUNT; b++) vkd_buffer_free(gpu, &nb[b]);
            vkd_buffer_free(gpu, &tmp);
            return vkd_error_prefix(err, "gaussians_densify: statistics for %u Gaussians: ", cap);
        }
    }

    vkd_gaussians_scatter_push sp = {
        .src0 = g->buf[0].addr, .src1 = g->buf[1].addr, .src2 = g->buf[2].addr, .src3 = g->buf[3].addr,
        .dst0 = nb[0].addr, .dst1 = nb[1].addr, .dst2 = nb[2].addr, .dst3 = nb[3].addr,
        .flags = flags,
        .offsets = offsets,
        .count = n,
        .src_cap = g->cap,
        .dst_cap = cap,
        .seed = vkd_gaussians_densify_seed(g),
        .log_split_div = (float)log(SPLIT_DIV),
    };
    vkd_stream_dispatch_1d(s, VKD_KERNEL_SPEC(field_gaussians_densify_scatter, g->row - GAUSSIANS_OFF_SH), &sp,
                           sizeof sp, (uint64_t)n * g->row, 256);
    if (total)
        for (int k = 0; k < GAUSSIANS_STAT_COUNT; k++)
            vkd_stream_fill(s, ns[k].addr ? ns[k].addr : g->stats[k].addr, total, 0);
    st = vkd_stream_submit(s, err);
    vkd_buffer_free(gpu, &tmp);
    if (st) {
        // The old buffers still hold the state from before the call.
        for (int b = 0; b < VKD_GAUSSIANS_BUFFER_COUNT; b++) vkd_buffer_free(gpu, &nb[b]);
        for (int k = 0; k < GAUSSIANS_STAT_COUNT; k++) vkd_buffer_free(gpu, &ns[k]);
        return vkd_error_prefix(err, "gaussians_densify: ");
    }
    for (int b = 0; b < VKD_GAUSSIANS_BUFFER_COUNT; b++) {
        vkd_buffer_free(gpu, &g->buf[b]);
        g->buf[b] = nb[b];
    }
    if (ns[0].addr)
        for (int k = 0; k < GAUSSIANS_STAT_COUNT; k++) {
            vkd_buffer_free(gpu, &g->stats[k]);
            g->stats[k] = ns[k];
        }
    g->cap = cap;
    g->count = total;
    g->densify_calls++;
    return VKD_OK;
}
