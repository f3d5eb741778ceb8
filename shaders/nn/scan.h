// Exclusive prefix sum of uint32 arrays (reduce-then-scan, no inter-workgroup waiting).
#include "common.h"

// Elements one workgroup of scan_reduce / scan_tile covers. Fixed (not a device choice)
// so that vkd_scan_scratch_bytes depends on n alone.
#define VKD_SCAN_TILE 4096

VKD_PUSH_BEGIN(vkd_scan_push)
    uint64_t dst;       // scan_tile: (n + 1,) exclusive sums, dst[n] = total; scan_reduce: (tiles,) tile sums
    uint64_t src;       // (n,) may equal dst for scan_tile
    uint64_t offsets;   // scan_tile: (tiles,) exclusive sums of the tile sums, or 0 when tiles == 1
    uint32_t n;
    uint32_t tiles;     // ceil(n / VKD_SCAN_TILE)
VKD_PUSH_END(vkd_scan_push)
