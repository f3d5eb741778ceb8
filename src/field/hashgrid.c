// Multiresolution hash encoding on the GPU (shaders/field/hashgrid_*.comp) and its level geometry.
#include "vkdream/hashgrid.h"
#include "field/hashgrid.h"
#include "vkd_shaders.h"

#include <math.h>

bool vkd_hashgrid_resolve(const vkd_hashgrid_desc* desc, vkd_hashgrid_desc* out, vkd_error* err) {
    vkd_hashgrid_desc d = *desc;
    if (!d.levels) d.levels = 16;
    if (!d.features) d.features = 2;
    if (!d.log2_table) d.log2_table = 19;
    if (!d.base_resolution) d.base_resolution = 16;
    if (d.per_level_scale == 0) d.per_level_scale = (float)VKD_HASHGRID_DEFAULT_PER_LEVEL_SCALE;
    if (!d.active_levels || d.active_levels > d.levels) d.active_levels = d.levels;
    if (d.input_scale == 0) d.input_scale = 1;
    *out = d;
    if (d.levels > VKD_HASHGRID_MAX_LEVELS) {
        vkd_error_set(err, VKD_ERR_INVALID, "hashgrid: levels = %u, expected 1..%u", d.levels, VKD_HASHGRID_MAX_LEVELS);
        return false;
    }
    if (d.features != 1 && d.features != 2 && d.features != 4 && d.features != 8) {
        vkd_error_set(err, VKD_ERR_INVALID, "hashgrid: features = %u, expected 1, 2, 4 or 8", d.features);
        return false;
    }
    if (d.log2_table < 4 || d.log2_table > 24) {
        vkd_error_set(err, VKD_ERR_INVALID, "hashgrid: log2_table = %u, expected 4..24", d.log2_table);
        return false;
    }
    if (!(d.per_level_scale > 0) || !isfinite(d.per_level_scale) || !isfinite(d.input_scale) ||
        !isfinite(d.input_offset)) {
        vkd_error_set(err, VKD_ERR_INVALID, "hashgrid: per_level_scale = %g, input_scale = %g, input_offset = %g",
                      d.per_level_scale, d.input_scale, d.input_offset);
        return false;
    }
    // The finest level's scale must fit the uint32 lattice arithmetic.
    double top = d.base_resolution * pow(d.per_level_scale, d.levels - 1);
    if (top > 1 << 24) {
        vkd_error_set(err, VKD_ERR_INVALID, "hashgrid: the finest level's resolution %.0f exceeds 2^24", top);
        return false;
    }
    if (vkd_hashgrid_param_count(&d) >= (1ull << 31)) {
        vkd_error_set(err, VKD_ERR_INVALID, "hashgrid: %u levels of 2^%u x %u features exceed 2^31 floats", d.levels,
                      d.log2_table, d.features);
        return false;
    }
    return true;
}

double vkd_hashgrid_per_level_scale(uint32_t levels, double base_resolution, double max_resolution) {
    if (levels < 2) return 1;
    return exp(log(max_resolution / base_resolution) / (levels - 1));
}

// Walks the levels in float32 exactly like hashgrid_level.glsl.
static vkd_hashgrid_level walk(const vkd_hashgrid_desc* d, uint32_t level, uint64_t* total) {
    uint32_t table_size = 1u << d->log2_table;
    float s = (float)d->base_resolution;
    uint64_t offset = 0;
    vkd_hashgrid_level out = {0};
    for (uint32_t l = 0; l < d->levels; l++) {
        float scale = s - 1.0f;
        uint32_t res = (uint32_t)ceilf(scale) + 1u;
        uint64_t cells = (uint64_t)res * res * res;
        bool hashed = cells > table_size;
        uint32_t size = hashed ? table_size : (uint32_t)((cells + 7) & ~(uint64_t)7);
        if (l == level)
            out = (vkd_hashgrid_level){
                .scale = scale, .resolution = res, .size = size, .offset = offset, .hashed = hashed};
        offset += size;
        s = s * d->per_level_scale;
    }
    if (total) *total = offset;
    return out;
}

static vkd_hashgrid_desc defaults(const vkd_hashgrid_desc* desc) {
    vkd_hashgrid_desc d;
    vkd_hashgrid_resolve(desc, &d, NULL);
    return d;
}

vkd_hashgrid_level vkd_hashgrid_level_info(const vkd_hashgrid_desc* desc, uint32_t level) {
    vkd_hashgrid_desc d = defaults(desc);
    return walk(&d, level, NULL);
}

uint64_t vkd_hashgrid_param_count(const vkd_hashgrid_desc* desc) {
    vkd_hashgrid_desc d = *desc;
    if (!d.levels) d.levels = 16;
    if (!d.features) d.features = 2;
    if (!d.log2_table) d.log2_table = 19;
    if (!d.base_resolution) d.base_resolution = 16;
    if (d.per_level_scale == 0) d.per_level_scale = (float)VKD_HASHGRID_DEFAULT_PER_LEVEL_SCALE;
    if (d.levels > VKD_HASHGRID_MAX_LEVELS || d.log2_table > 30) return 0;
    uint64_t total;
    walk(&d, 0, &total);
    return total * d.features;
}

void vkd_hashgrid_init_params(float* table, const vkd_hashgrid_desc* desc, uint64_t seed) {
    uint64_t n = vkd_hashgrid_param_count(desc), st = seed;
    for (uint64_t i = 0; i < n; i++) {
        uint64_t z = (st += 0x9E3779B97F4A7C15ull);
        z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
        z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
        z ^= z >> 31;
        double u = (double)(z >> 11) * (1.0 / 9007199254740992.0);
        table[i] = (float)((2 * u - 1) * 1e-4);
    }
}

// Kernels index with 32-bit integers: the (n, L F) encodings must stay below 2^32 floats.
static bool check(vkd_stream* s, const char* op, const vkd_hashgrid_desc* desc, vkd_hashgrid_desc* d, uint32_t n) {
    vkd_error e = {0};
    if (!desc || !vkd_hashgrid_resolve(desc, d, &e)) {
        vkd_stream_fail(s, VKD_ERR_INVALID, "%s: %s", op, desc ? e.msg : "desc is NULL");
        return false;
    }
    if ((uint64_t)n * d->levels * d->features >= (1ull << 32)) {
        vkd_stream_fail(s, VKD_ERR_INVALID, "%s: n = %u points of %u features exceed 2^32 floats; split the batch", op,
                        n, d->levels * d->features);
        return false;
    }
    return true;
}

void vkd_hashgrid_forward(vkd_stream* s, vkd_addr out, vkd_addr positions, vkd_addr table, uint32_t n,
                          const vkd_hashgrid_desc* desc) {
    vkd_hashgrid_desc d;
    if (!check(s, "hashgrid_forward", desc, &d, n)) return;
    if (!n) return;
    if (!out || !positions || !table) {
        vkd_stream_fail(s, VKD_ERR_INVALID, "hashgrid_forward: out, positions and table must be set");
        return;
    }
    if (d.features % 2 == 0 && (out % 8 || table % 8)) {
        vkd_stream_fail(s, VKD_ERR_INVALID, "hashgrid_forward: out and table must be 8-byte aligned with %u features",
                        d.features);
        return;
    }
    vkd_hashgrid_fwd_push p = {.table = table,
                               .positions = positions,
                               .dst = out,
                               .n = n,
                               .levels = d.levels,
                               .log2_table = d.log2_table,
                               .base_resolution = d.base_resolution,
                               .active_levels = d.active_levels,
                               .per_level_scale = d.per_level_scale,
                               .input_scale = d.input_scale,
                               .input_offset = d.input_offset};
    vkd_stream_dispatch_1d(s, VKD_KERNEL_SPEC(field_hashgrid_fwd, d.features), &p, sizeof p, n, HASHGRID_WG);
}

void vkd_hashgrid_backward(vkd_stream* s, vkd_addr d_positions, vkd_addr d_table, vkd_addr dout, vkd_addr positions,
                           vkd_addr table, uint32_t n, const vkd_hashgrid_desc* desc) {
    vkd_hashgrid_desc d;
    if (!check(s, "hashgrid_backward", desc, &d, n)) return;
    if (!n || (!d_positions && !d_table)) return;
    if (!dout || !positions || (d_positions && !table)) {
        vkd_stream_fail(s, VKD_ERR_INVALID,
                        "hashgrid_backward: dout and positions (and table for d_positions) must be set");
        return;
    }
    if (d.features % 2 == 0 && (dout % 8 || table % 8)) {
        vkd_stream_fail(s, VKD_ERR_INVALID, "hashgrid_backward: dout and table must be 8-byte aligned with %u features",
                        d.features);
        return;
    }
    vkd_hashgrid_bwd_push p = {.table = table,
                               .positions = positions,
                               .dout = dout,
                               .d_table = d_table,
                               .d_positions = d_positions,
                               .n = n,
                               .levels = d.levels,
                               .log2_table = d.log2_table,
                               .base_resolution = d.base_resolution,
                               .active_levels = d.active_levels,
                               .per_level_scale = d.per_level_scale,
                               .input_scale = d.input_scale,
                               .input_offset = d.input_offset};
    bool native = vkd_gpu_get_info(vkd_stream_gpu(s))->float_atomics && !d.cas_atomics;
    // One specialized pass per gradient: on llvmpipe a kernel doing both (scatter and table reads)
    // costs twice as much as the two passes together, and GPUs rarely need both at once.
    if (d_table) {
        vkd_kernel_desc k = native ? VKD_KERNEL_SPEC(field_hashgrid_bwd, d.features, 1, 0)
                                   : VKD_KERNEL_SPEC(field_hashgrid_bwd_cas, d.features, 1, 0);
        vkd_stream_dispatch_1d(s, k, &p, sizeof p, n, HASHGRID_WG);
    }
    if (d_positions)
        vkd_stream_dispatch_1d(s, VKD_KERNEL_SPEC(field_hashgrid_bwd, d.features, 0, 1), &p, sizeof p, n, HASHGRID_WG);
}
