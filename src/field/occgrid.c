// Occupancy grid (instant-ngp / nerfacc): the grid's buffers and the recording of its sample and
// update passes. Kernels: shaders/field/occgrid_*.comp; reference: src/field/occgrid_ref.c.
#include "vkdream/nn/scan.h"
#include "vkdream/volrend.h"
#include "field/occgrid.h"
#include "vkd_shaders.h"

#include <stdlib.h>

struct vkd_occgrid {
    vkd_gpu* gpu;
    uint32_t res, cells, words;
    float radius;
    bool sampled;          // a sample call was recorded (the update reads its cells)
    uint32_t last_count;   // M of the latest sample call
    vkd_buffer density;    // (cells,) float EMA
    vkd_buffer bits;       // (words,)
    vkd_buffer cell_ids;   // (cells,) u32: the cells of the latest sample call (M <= cells)
    vkd_buffer cell_max;   // (cells,) u32 per-update maxima; all 0 between updates
    vkd_buffer offsets;    // (words + 1,) popcount scan
    vkd_buffer list;       // (cells,) occupied cell indices
    vkd_buffer scan;       // scan scratch (may be empty)
    vkd_buffer thre;       // (1,) threshold of the latest update
};

static const vkd_buffer* grid_buffers(const vkd_occgrid* g, int i) {
    const vkd_buffer* b[] = {&g->density, &g->bits,   &g->cell_ids, &g->cell_max,
                             &g->offsets, &g->list,   &g->scan,     &g->thre};
    return i < (int)(sizeof b / sizeof b[0]) ? b[i] : NULL;
}

void vkd_occgrid_destroy(vkd_occgrid* g) {
    if (!g) return;
    for (int i = 0; grid_buffers(g, i); i++)
        if (grid_buffers(g, i)->addr) vkd_buffer_free(g->gpu, (vkd_buffer*)grid_buffers(g, i));
    free(g);
}

vkd_status vkd_occgrid_create(vkd_gpu* gpu, const vkd_occgrid_desc* desc, vkd_occgrid** out, vkd_error* err) {
    *out = NULL;
    uint32_t res = desc && desc->resolution ? desc->resolution : 128;
    float radius = desc && desc->radius > 0 ? desc->radius : 1.0f;
    if (res > 1024)
        return vkd_error_set(err, VKD_ERR_INVALID, "occgrid: resolution %u is above the supported 1024", res);
    vkd_occgrid* g = calloc(1, sizeof *g);
    if (!g) return vkd_error_set(err, VKD_ERR_OUT_OF_MEMORY, "occgrid: out of host memory");
    g->gpu = gpu;
    g->res = res;
    g->cells = res * res * res;
    g->words = (g->cells + 31) / 32;
    g->radius = radius;
    uint64_t scan_bytes = vkd_scan_scratch_bytes(g->words);
    size_t sizes[] = {(size_t)g->cells * 4, (size_t)g->words * 4, (size_t)g->cells * 4, (size_t)g->cells * 4,
                      ((size_t)g->words + 1) * 4, (size_t)g->cells * 4, scan_bytes ? scan_bytes : 4, 4};
    for (int i = 0; grid_buffers(g, i); i++) {
        vkd_status st = vkd_buffer_alloc(gpu, sizes[i], (vkd_buffer*)grid_buffers(g, i), err);
        if (st) {
            vkd_occgrid_destroy(g);
            return vkd_error_prefix(err, "occgrid (%u^3): ", res);
        }
    }
    // A new grid is in the warm-up state (and cell_max, which the EMA kernel clears after
    // reading it, starts at 0), so the first vkd_occgrid_update needs no reset before it.
    vkd_stream* s = NULL;
    vkd_status st = vkd_stream_create(gpu, &s, err);
    if (!st) {
        vkd_occgrid_reset(g, s);
        st = vkd_stream_submit(s, err);
        vkd_stream_destroy(s);
    }
    if (st) {
        vkd_occgrid_destroy(g);
        return vkd_error_prefix(err, "occgrid (%u^3) initialisation: ", res);
    }
    *out = g;
    return VKD_OK;
}

uint32_t vkd_occgrid_resolution(const vkd_occgrid* g) { return g->res; }
float vkd_occgrid_radius(const vkd_occgrid* g) { return g->radius; }
vkd_addr vkd_occgrid_bits(const vkd_occgrid* g) { return g->bits.addr; }
vkd_addr vkd_occgrid_density(const vkd_occgrid* g) { return g->density.addr; }
vkd_addr vkd_occgrid_cells(const vkd_occgrid* g) { return g->cell_ids.addr; }

uint64_t vkd_occgrid_bytes(const vkd_occgrid* g) {
    uint64_t n = 0;
    for (int i = 0; grid_buffers(g, i); i++) n += grid_buffers(g, i)->size;
    return n;
}

void vkd_occgrid_reset(vkd_occgrid* g, vkd_stream* s) {
    vkd_stream_fill(s, g->density.addr, g->cells, 0);
    vkd_stream_fill(s, g->bits.addr, g->words, 0xffffffffu);
    vkd_stream_fill(s, g->cell_max.addr, g->cells, 0);
}

uint32_t vkd_occgrid_sample_count(const vkd_occgrid* g, bool all_cells) {
    return all_cells ? g->cells : 2 * (g->cells / 4);
}

void vkd_occgrid_sample(vkd_occgrid* g, vkd_stream* s, vkd_addr positions, bool all_cells, uint32_t seed) {
    if (!positions) {
        vkd_stream_fail(s, VKD_ERR_INVALID, "occgrid_sample: positions is 0");
        return;
    }
    uint32_t count = vkd_occgrid_sample_count(g, all_cells);
    if (!all_cells) {
        // The occupied cells, listed in index order: popcount per word, scan, scatter.
        vkd_occgrid_list_push lp = {.bits = g->bits.addr, .offsets = g->offsets.addr, .list = g->list.addr,
                                    .words = g->words, .cells = g->cells};
        vkd_stream_dispatch_1d(s, VKD_KERNEL(field_occgrid_popcount), &lp, sizeof lp, g->words, OCCGRID_WG);
        vkd_scan_exclusive_u32(s, g->offsets.addr, g->offsets.addr, g->words, g->scan.addr);
        vkd_stream_dispatch_1d(s, VKD_KERNEL(field_occgrid_list), &lp, sizeof lp, g->words, OCCGRID_WG);
    }
    vkd_occgrid_sample_push p = {.positions = positions, .cell_ids = g->cell_ids.addr, .offsets = g->offsets.addr,
                                 .list = g->list.addr, .count = count, .all_cells = all_cells ? 1u : 0u,
                                 .res = g->res, .cells = g->cells, .words = g->words, .seed = seed,
                                 .radius = g->radius, .cell_size = 2.0f * g->radius / (float)g->res};
    if (count) vkd_stream_dispatch_1d(s, VKD_KERNEL(field_occgrid_sample), &p, sizeof p, count, OCCGRID_WG);
    g->last_count = count;
    g->sampled = true;
}

void vkd_occgrid_update(vkd_occgrid* g, vkd_stream* s, vkd_addr density, const vkd_occgrid_update_desc* desc) {
    if (!g->sampled) {
        vkd_stream_fail(s, VKD_ERR_INVALID, "occgrid_update: no vkd_occgrid_sample was recorded before it");
        return;
    }
    if (!density) {
        vkd_stream_fail(s, VKD_ERR_INVALID, "occgrid_update: density is 0 (expected %u values)", g->last_count);
        return;
    }
    vkd_occgrid_update_push p = {
        .density = g->density.addr, .bits = g->bits.addr, .cell_ids = g->cell_ids.addr, .samples = density,
        .cell_max = g->cell_max.addr, .thre = g->thre.addr, .count = g->last_count, .cells = g->cells,
        .words = g->words, .decay = desc && desc->decay > 0 ? desc->decay : 0.95f,
        .threshold = desc && desc->threshold > 0 ? desc->threshold : 0.01f,
        .occ_scale = desc && desc->occ_scale > 0 ? desc->occ_scale : 1.0f};
    if (p.count) vkd_stream_dispatch_1d(s, VKD_KERNEL(field_occgrid_scatter), &p, sizeof p, p.count, OCCGRID_WG);
    vkd_stream_dispatch_1d(s, VKD_KERNEL(field_occgrid_ema), &p, sizeof p, g->cells, OCCGRID_WG);
    vkd_stream_dispatch(s, VKD_KERNEL(field_occgrid_mean), &p, sizeof p, 1, 1, 1);
    vkd_stream_dispatch_1d(s, VKD_KERNEL(field_occgrid_bits), &p, sizeof p, g->words, OCCGRID_WG);
}
