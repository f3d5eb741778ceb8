// Reduce-then-scan: level 1 sums each tile of VKD_SCAN_TILE elements, the tile sums are
// scanned recursively (in place, in the scratch buffer), and a last pass scans each tile
// starting from its tile's offset. Three dispatches up to 2^24 elements, five beyond.
#include "vkdream/nn/scan.h"
#include "nn/scan.h"
#include "vkd_shaders.h"

// Words of scratch are handed out in multiples of 64 (256 bytes) per level so every
// level's array starts aligned like an allocation.
static uint64_t round_words(uint64_t w) { return (w + 63) & ~(uint64_t)63; }

static uint32_t tiles_of(uint32_t n) { return (uint32_t)(((uint64_t)n + VKD_SCAN_TILE - 1) / VKD_SCAN_TILE); }

uint64_t vkd_scan_scratch_bytes(uint32_t n) {
    uint64_t words = 0;
    while (n > VKD_SCAN_TILE) {
        uint32_t tiles = tiles_of(n);
        words += round_words((uint64_t)tiles + 1);  // tile sums, then their scan (+ total)
        n = tiles;
    }
    return words * 4;
}

// A 1-D grid of `groups` workgroups split over x and y within the device limits; the
// shaders rebuild the linear index and skip the excess.
static void dispatch_tiles(vkd_stream* s, vkd_kernel_desc k, const vkd_scan_push* p, uint32_t groups) {
    uint32_t max_x = vkd_gpu_get_info(vkd_stream_gpu(s))->max_workgroup_count[0];
    uint32_t gx = groups < max_x ? groups : max_x;
    uint32_t gy = (groups + gx - 1) / gx;
    vkd_stream_dispatch(s, k, p, sizeof *p, gx, gy, 1);
}

static void scan_level(vkd_stream* s, uint32_t wg, uint32_t direct, vkd_addr out, vkd_addr in, uint32_t n,
                       vkd_addr scratch) {
    uint32_t tiles = tiles_of(n);
    vkd_scan_push p = {.dst = out, .src = in, .n = n, .tiles = tiles};
    if (tiles > 1) {
        vkd_addr sums = scratch;
        vkd_addr rest = scratch + round_words((uint64_t)tiles + 1) * 4;
        vkd_scan_push r = {.dst = sums, .src = in, .n = n, .tiles = tiles};
        dispatch_tiles(s, VKD_KERNEL_SPEC(nn_scan_reduce, wg), &r, tiles);
        scan_level(s, wg, direct, sums, sums, tiles, rest);
        p.offsets = sums;
    }
    dispatch_tiles(s, VKD_KERNEL_SPEC(nn_scan_tile, wg, direct), &p, tiles);
}

void vkd_scan_exclusive_u32_ex(vkd_stream* s, vkd_addr out, vkd_addr in, uint32_t n, vkd_addr scratch,
                               const vkd_scan_desc* desc) {
    if (!out) {
        vkd_stream_fail(s, VKD_ERR_INVALID, "scan_exclusive_u32: out is 0 (needs n + 1 = %llu words)",
                        (unsigned long long)n + 1);
        return;
    }
    if (n > VKD_SCAN_MAX_N) {
        vkd_stream_fail(s, VKD_ERR_INVALID, "scan_exclusive_u32: n = %u exceeds the maximum 2^31", n);
        return;
    }
    if (n && !in) {
        vkd_stream_fail(s, VKD_ERR_INVALID, "scan_exclusive_u32: in is 0 with n = %u", n);
        return;
    }
    if ((out | in | scratch) & 3) {
        vkd_stream_fail(s, VKD_ERR_INVALID, "scan_exclusive_u32: out, in and scratch must be 4-byte aligned");
        return;
    }
    if (vkd_scan_scratch_bytes(n) && !scratch) {
        vkd_stream_fail(s, VKD_ERR_INVALID, "scan_exclusive_u32: n = %u needs %llu bytes of scratch, scratch is 0", n,
                        (unsigned long long)vkd_scan_scratch_bytes(n));
        return;
    }
    // GPUs: 256 invocations x 16 elements, coalesced through shared memory. llvmpipe (a
    // workgroup is one CPU thread; barriers switch between its 8-lane rows; each memory
    // access loops over the lanes): 16 invocations x 256 elements read and written
    // directly. Measured there for 2^20 elements: 32 ms of CPU time at 256 staged, 21 ms at
    // 32 staged, 17.6 ms at 16 direct (8..32 direct within 5%).
    const vkd_gpu_info* info = vkd_gpu_get_info(vkd_stream_gpu(s));
    uint32_t wg = info->kind == VKD_DEVICE_CPU ? 16 : 256;
    uint32_t direct = info->kind == VKD_DEVICE_CPU;
    if (desc && desc->workgroup_size) wg = desc->workgroup_size;
    if (desc && desc->direct) direct = desc->direct > 0;
    if (wg < 8 || wg > 256 || (wg & (wg - 1)) || wg > info->max_workgroup_invocations) {
        vkd_stream_fail(s, VKD_ERR_INVALID, "scan_exclusive_u32: workgroup_size %u: need a power of two 8..256", wg);
        return;
    }
    if (n == 0) {
        vkd_stream_fill(s, out, 1, 0);
        return;
    }
    scan_level(s, wg, direct, out, in, n, scratch);
}

void vkd_scan_exclusive_u32(vkd_stream* s, vkd_addr out, vkd_addr in, uint32_t n, vkd_addr scratch) {
    vkd_scan_exclusive_u32_ex(s, out, in, n, scratch, NULL);
}
