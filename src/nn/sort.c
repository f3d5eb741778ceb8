// Stable LSD radix sort, 8-bit digits, reduce-then-scan per pass:
//   sort_hist     per block of keys, the count of each digit -> hist[digit][block]
//   vkd_scan      exclusive scan of hist in digit-major order: hist[d][b] becomes the
//                 global position of block b's first key with digit d
//   sort_scatter  per block, a stable scatter: tiles ranked in shared memory (GPUs), or
//                 (sort_scatter_chunked, CPUs) each invocation walking its own run of keys
// Passes ping-pong between the caller's arrays and the scratch copies; after an odd
// number of passes the result is copied back.
// 8-bit digits: with 4-bit ones (twice the passes) a 2^20-key, 48-bit sort took 1.7x the
// CPU time on llvmpipe (chunked: 811 vs 467 ms; tiled: 1998 vs 1235 ms), since a pass
// costs nearly the same either way there. GPU radix sorts settle on 8 bits for the same
// reason (the per-key memory traffic of a pass dominates).
#include "vkdream/nn/sort.h"
#include "vkdream/nn/scan.h"
#include "nn/sort.h"
#include "vkd_shaders.h"

#include <stdbool.h>

static uint64_t align256(uint64_t b) { return (b + 255) & ~(uint64_t)255; }
static uint64_t ceil_div(uint64_t a, uint64_t b) { return (a + b - 1) / b; }

// Every method and shape uses blocks of at least VKD_SORT_GRAIN keys, so this bounds the
// number of blocks, and with it the scratch, for any desc.
static uint32_t max_blocks(uint32_t n) { return (uint32_t)ceil_div(n, VKD_SORT_GRAIN); }

// Chunked method: at most 32 invocations, blocks of a multiple of 1024 * invocations keys,
// so the per-invocation columns (256 words per invocation per block) take at most
// 256 * 32 words per 32768 keys.
#define CHUNK_MAX_WG 32

typedef struct sort_layout {
    uint64_t keys, values, hist, columns, scan;  // byte offsets in the scratch
} sort_layout;

static sort_layout layout_of(uint32_t n, uint64_t* total) {
    sort_layout l;
    uint64_t hist_words = (uint64_t)VKD_SORT_RADIX * max_blocks(n) + 1;  // + the scan's total
    uint64_t column_words = (uint64_t)VKD_SORT_RADIX * CHUNK_MAX_WG * ceil_div(n, 1024 * CHUNK_MAX_WG);
    l.keys = 0;
    l.values = l.keys + align256((uint64_t)n * 8);
    l.hist = l.values + align256((uint64_t)n * 4);
    l.columns = l.hist + align256(hist_words * 4);
    l.scan = l.columns + align256(column_words * 4);
    if (total) *total = l.scan + align256(vkd_scan_scratch_bytes((uint32_t)(hist_words - 1)));
    return l;
}

uint64_t vkd_sort_scratch_bytes(uint32_t n) {
    if (n == 0) return 0;
    uint64_t total;
    layout_of(n, &total);
    return total;
}

typedef struct sort_cfg {
    bool chunked;
    uint32_t wg, items, block_items;
} sort_cfg;

static uint32_t tiled_shared_bytes(uint32_t wg, uint32_t items, uint32_t key_words) {
    uint32_t tile = wg * items;
    uint32_t counters = (VKD_SORT_RADIX / 2) * wg + wg;
    uint32_t exchange = (tile + tile / 32) * (key_words + 1);
    return 4 * ((counters > exchange ? counters : exchange) + 3 * VKD_SORT_RADIX + 2 * wg);
}

static bool pow2(uint32_t x) { return x && !(x & (x - 1)); }

// Device defaults, then the desc's overrides, then checks. Returns false (after failing the
// stream) when the result is unusable.
static bool choose(vkd_stream* s, const char* op, uint32_t n, uint32_t key_words, const vkd_sort_desc* d,
                   sort_cfg* c) {
    static const vkd_sort_desc none = {0};
    if (!d) d = &none;
    const vkd_gpu_info* info = vkd_gpu_get_info(vkd_stream_gpu(s));
    bool cpu = info->kind == VKD_DEVICE_CPU;
    if (d->method < VKD_SORT_AUTO || d->method > VKD_SORT_CHUNKED) {
        vkd_stream_fail(s, VKD_ERR_INVALID, "%s: unknown method %d", op, (int)d->method);
        return false;
    }
    c->chunked = d->method ? d->method == VKD_SORT_CHUNKED : cpu;
    if (c->chunked) {
        // llvmpipe: a workgroup is one CPU thread looping over 8-wide SIMD lanes. One SIMD
        // row of invocations: barriers are free, and the fewer lanes, the fewer digit runs
        // the stores are spread over (measured: 8 lanes 4.4, 16 lanes 7.7 ms per 2^20-key
        // histogram; scatter 34 vs 42 ms).
        c->wg = d->workgroup_size ? d->workgroup_size : 8;
        c->items = 0;
        if (!pow2(c->wg) || c->wg < 8 || c->wg > CHUNK_MAX_WG) {
            vkd_stream_fail(s, VKD_ERR_INVALID, "%s: chunked workgroup_size %u: need 8, 16 or 32", op, c->wg);
            return false;
        }
    } else {
        // GPUs: 32 invocations x 32 keys per tile. The counters take 128 words per
        // invocation whatever the shape (16.5 KiB here, 33 KiB at 64 invocations), so wider
        // workgroups do not raise occupancy, and 32 keys per invocation halve the counter
        // scan per key compared with 16. This shape also runs (and is tested) on llvmpipe.
        c->wg = 32, c->items = 32;
        if (d->workgroup_size) c->wg = d->workgroup_size;
        if (d->items_per_thread) c->items = d->items_per_thread;
        uint32_t tile = c->wg * c->items;
        if (!pow2(c->wg) || c->wg < 32 || c->wg > 128 || !pow2(tile) || tile < 256 || tile > 4096) {
            vkd_stream_fail(s, VKD_ERR_INVALID,
                            "%s: tiled workgroup_size %u x items_per_thread %u: need a power of two 32..128 and a "
                            "power-of-two tile of 256..4096 keys",
                            op, c->wg, c->items);
            return false;
        }
        uint32_t need = tiled_shared_bytes(c->wg, c->items, key_words);
        if (need > info->max_shared_memory) {
            vkd_stream_fail(s, VKD_ERR_INVALID,
                            "%s: tiled workgroup_size %u x items_per_thread %u needs %u bytes of shared memory, the "
                            "device has %u",
                            op, c->wg, c->items, need, info->max_shared_memory);
            return false;
        }
    }
    // Blocks are whole tiles (tiled) or whole 1024-key runs per invocation (chunked).
    uint32_t unit = c->chunked ? 1024 * c->wg : c->wg * c->items;
    if (unit < VKD_SORT_GRAIN) unit = VKD_SORT_GRAIN;
    if (d->block_items) {
        c->block_items = d->block_items;
        if (c->block_items % unit || c->block_items > (1u << 30)) {
            vkd_stream_fail(s, VKD_ERR_INVALID, "%s: block_items %u is not a multiple of %u up to 2^30", op,
                            c->block_items, unit);
            return false;
        }
    } else {
        // Chunked (CPUs): ~64 blocks, plenty for a few threads, and a histogram scan of only
        // 64 x 256 words. Tiled (GPUs): up to ~2048 blocks of 32 invocations to fill the device.
        uint64_t per = ceil_div(n, c->chunked ? 64 : 2048);
        c->block_items = (uint32_t)(ceil_div(per, unit) * unit);
    }
    return true;
}

static void sort_pairs(vkd_stream* s, const char* op, uint32_t key_words, vkd_addr keys, vkd_addr values, uint32_t n,
                       uint32_t key_bits, vkd_addr scratch, const vkd_sort_desc* desc) {
    uint32_t max_bits = 32 * key_words;
    if (key_bits > max_bits) {
        vkd_stream_fail(s, VKD_ERR_INVALID, "%s: key_bits = %u exceeds the key width %u", op, key_bits, max_bits);
        return;
    }
    if (n > VKD_SORT_MAX_N) {
        vkd_stream_fail(s, VKD_ERR_INVALID, "%s: n = %u exceeds the maximum 2^31 - 1", op, n);
        return;
    }
    if (n == 0 || key_bits == 0) return;
    if (!keys || !scratch) {
        vkd_stream_fail(s, VKD_ERR_INVALID, "%s: keys and scratch (%llu bytes) must be set for n = %u", op,
                        (unsigned long long)vkd_sort_scratch_bytes(n), n);
        return;
    }
    if ((keys | scratch) % (4 * key_words) || values % 4) {
        vkd_stream_fail(s, VKD_ERR_INVALID, "%s: keys and scratch must be %u-byte aligned, values 4-byte aligned", op,
                        4 * key_words);
        return;
    }
    sort_cfg c;
    if (!choose(s, op, n, key_words, desc, &c)) return;
    uint32_t blocks = (uint32_t)ceil_div(n, c.block_items);
    sort_layout l = layout_of(n, NULL);
    vkd_addr hist = scratch + l.hist;
    vkd_addr k[2] = {keys, scratch + l.keys};
    vkd_addr v[2] = {values, values ? scratch + l.values : 0};
    uint32_t max_x = vkd_gpu_get_info(vkd_stream_gpu(s))->max_workgroup_count[0];
    uint32_t gx = blocks < max_x ? blocks : max_x, gy = (blocks + gx - 1) / gx;
    vkd_kernel_desc khist, kscatter;
    if (c.chunked) {
        khist = VKD_KERNEL_SPEC(nn_sort_hist, c.wg, key_words, 1);
        kscatter = VKD_KERNEL_SPEC(nn_sort_scatter_chunked, c.wg, key_words);
    } else {
        khist = VKD_KERNEL_SPEC(nn_sort_hist, 256, key_words, 0);
        kscatter = VKD_KERNEL_SPEC(nn_sort_scatter, c.wg, c.items, key_words);
    }

    uint32_t passes = (key_bits + 7) / 8;
    for (uint32_t pass = 0; pass < passes; pass++) {
        uint32_t bits = key_bits - 8 * pass < 8 ? key_bits - 8 * pass : 8;
        uint32_t src = pass & 1;
        vkd_sort_push p = {
            .keys_in = k[src],
            .values_in = v[src],
            .keys_out = k[src ^ 1],
            .values_out = v[src ^ 1],
            .hist = hist,
            .columns = c.chunked ? scratch + l.columns : 0,
            .n = n,
            .blocks = blocks,
            .block_items = c.block_items,
            .shift = 8 * pass,
            .mask = (1u << bits) - 1,
        };
        vkd_stream_dispatch(s, khist, &p, sizeof p, gx, gy, 1);
        vkd_scan_exclusive_u32(s, hist, hist, VKD_SORT_RADIX * blocks, scratch + l.scan);
        vkd_stream_dispatch(s, kscatter, &p, sizeof p, gx, gy, 1);
    }
    if (passes & 1) {
        vkd_stream_copy(s, keys, k[1], n * key_words);
        if (values) vkd_stream_copy(s, values, v[1], n);
    }
}

void vkd_sort_pairs_u64_ex(vkd_stream* s, vkd_addr keys, vkd_addr values, uint32_t n, uint32_t key_bits,
                           vkd_addr scratch, const vkd_sort_desc* desc) {
    sort_pairs(s, "sort_pairs_u64", 2, keys, values, n, key_bits, scratch, desc);
}

void vkd_sort_pairs_u32_ex(vkd_stream* s, vkd_addr keys, vkd_addr values, uint32_t n, uint32_t key_bits,
                           vkd_addr scratch, const vkd_sort_desc* desc) {
    sort_pairs(s, "sort_pairs_u32", 1, keys, values, n, key_bits, scratch, desc);
}

void vkd_sort_pairs_u64(vkd_stream* s, vkd_addr keys, vkd_addr values, uint32_t n, uint32_t key_bits,
                        vkd_addr scratch) {
    vkd_sort_pairs_u64_ex(s, keys, values, n, key_bits, scratch, NULL);
}

void vkd_sort_pairs_u32(vkd_stream* s, vkd_addr keys, vkd_addr values, uint32_t n, uint32_t key_bits,
                        vkd_addr scratch) {
    vkd_sort_pairs_u32_ex(s, keys, values, n, key_bits, scratch, NULL);
}
