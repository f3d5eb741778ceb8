// Stable LSD radix sort of (key, value) pairs on the GPU, 8 bits per pass, for the Gaussian
// splatting renderer (keys (tile << 32) | depth bits, values Gaussian indices). Per pass:
// a digit histogram per block of keys, an exclusive scan of the histograms (vkd_scan),
// and a stable scatter. No host round trip, no subgroup operations.
#ifndef VKDREAM_NN_SORT_H
#define VKDREAM_NN_SORT_H
#include "vkdream/gpu.h"

// Largest n the sorts accept.
#define VKD_SORT_MAX_N ((1u << 31) - 1)

typedef enum vkd_sort_method {
    VKD_SORT_AUTO = 0,  // chunked on CPU devices, tiled elsewhere
    VKD_SORT_TILED,     // GPUs: coalesced tiles ranked in shared memory, stores in digit order
    VKD_SORT_CHUNKED,   // CPUs (llvmpipe): each invocation walks its own run of keys serially
} vkd_sort_method;

// Method and kernel shape overrides for tests and tuning; zero fields mean the device's default.
typedef struct vkd_sort_desc {
    vkd_sort_method method;
    uint32_t workgroup_size;    // tiled: 32, 64 or 128; chunked: 8, 16 or 32
    uint32_t items_per_thread;  // tiled: keys per invocation per tile (tile = product, 256..4096)
    uint32_t block_items;       // keys per workgroup: a multiple of 1024 and of the tile (tiled),
                                // of 1024 * workgroup_size (chunked)
} vkd_sort_desc;

// Bytes of scratch the sorts need for n pairs (enough for either key width and any desc):
// about 14 per pair (the ping-pong copies of keys and values, histograms, counters).
uint64_t vkd_sort_scratch_bytes(uint32_t n);

// Sorts keys (and values with them) by the low key_bits bits of the keys (0..64), stably:
// equal masked keys keep their input order; the bits above key_bits are ignored for the
// order and carried along unchanged. values may be 0 (keys only). keys: 8-byte aligned.
void vkd_sort_pairs_u64(vkd_stream* s,
                        vkd_addr keys,     // (n,) uint64, sorted in place
                        vkd_addr values,   // (n,) uint32, permuted like keys; or 0
                        uint32_t n, uint32_t key_bits,
                        vkd_addr scratch); // (vkd_sort_scratch_bytes(n),) bytes, 8-byte aligned
// The same with 32-bit keys (key_bits 0..32).
void vkd_sort_pairs_u32(vkd_stream* s,
                        vkd_addr keys,     // (n,) uint32, sorted in place
                        vkd_addr values,   // (n,) uint32 or 0
                        uint32_t n, uint32_t key_bits,
                        vkd_addr scratch); // (vkd_sort_scratch_bytes(n),) bytes
// vkd_sort_pairs_u64 / _u32 with an explicit kernel shape (desc may be NULL).
void vkd_sort_pairs_u64_ex(vkd_stream* s, vkd_addr keys, vkd_addr values, uint32_t n, uint32_t key_bits,
                           vkd_addr scratch, const vkd_sort_desc* desc);
void vkd_sort_pairs_u32_ex(vkd_stream* s, vkd_addr keys, vkd_addr values, uint32_t n, uint32_t key_bits,
                           vkd_addr scratch, const vkd_sort_desc* desc);

// References: stable merge sorts by the masked key on the host; values may be NULL.
void vkd_ref_sort_pairs_u64(uint64_t* keys,   // (n,)
                            uint32_t* values, // (n,) or NULL
                            uint64_t n, uint32_t key_bits);
void vkd_ref_sort_pairs_u32(uint32_t* keys,   // (n,)
                            uint32_t* values, // (n,) or NULL
                            uint64_t n, uint32_t key_bits);

#endif
