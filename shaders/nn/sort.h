// Stable LSD radix sort of (key, value) pairs, 8-bit digits: per pass a digit histogram
// per block of keys (sort_hist), an exclusive scan of the digit-major histograms (scan)
// and a stable scatter (sort_scatter for GPUs, sort_scatter_chunked for CPUs).
#include "common.h"

#define VKD_SORT_RADIX 256
// Tiles (WG * ITEMS keys) and blocks (the keys one workgroup handles, a whole number of
// tiles) are multiples of this many keys.
#define VKD_SORT_GRAIN 1024

VKD_PUSH_BEGIN(vkd_sort_push)
    uint64_t keys_in;     // (n,) uint64 or uint32
    uint64_t values_in;   // (n,) uint32, or 0: keys only
    uint64_t keys_out;    // (n,)
    uint64_t values_out;  // (n,)
    uint64_t hist;        // (256, blocks) digit-major: counts (sort_hist) / exclusive offsets (sort_scatter)
    uint64_t columns;     // chunked method: (blocks, 256, WG) per-invocation digit counts
    uint32_t n;
    uint32_t blocks;
    uint32_t block_items; // keys per block: a multiple of the scatter tile / of WG (chunked)
    uint32_t shift;       // the digit is (key >> shift) & mask; shift is a multiple of 8
    uint32_t mask;
VKD_PUSH_END(vkd_sort_push)
