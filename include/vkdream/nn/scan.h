// Exclusive prefix sum (scan) of uint32 arrays: a GPU parallel primitive for the Gaussian
// splatting renderer (tile-list offsets) and the radix sort. Reduce-then-scan with one
// workgroup per 4096 elements per level, so it never relies on workgroups waiting for
// each other (Vulkan gives no forward-progress guarantee between workgroups).
#ifndef VKDREAM_NN_SCAN_H
#define VKDREAM_NN_SCAN_H
#include "vkdream/gpu.h"

// Largest n vkd_scan_exclusive_u32 accepts.
#define VKD_SCAN_MAX_N (1u << 31)

// Bytes of scratch vkd_scan_exclusive_u32 needs for n elements (0 when n <= 4096).
uint64_t vkd_scan_scratch_bytes(uint32_t n);
// out[i] = in[0] + ... + in[i-1] (mod 2^32) for i <= n, so out[n] is the total. out may equal in.
// scratch: vkd_scan_scratch_bytes(n) bytes, 4-byte aligned (0 allowed when that is 0).
void vkd_scan_exclusive_u32(vkd_stream* s,
                            vkd_addr out,      // (n + 1,) uint32
                            vkd_addr in,       // (n,) uint32
                            uint32_t n,
                            vkd_addr scratch); // (vkd_scan_scratch_bytes(n),) bytes
// Kernel shape override for tests and tuning; zero means the device's default.
typedef struct vkd_scan_desc {
    uint32_t workgroup_size;  // invocations per 4096-element tile: a power of two 8..256
    int32_t direct;           // 1: unstaged per-invocation runs (CPUs); -1: coalesced via shared memory
} vkd_scan_desc;
// vkd_scan_exclusive_u32 with an explicit kernel shape (desc may be NULL).
void vkd_scan_exclusive_u32_ex(vkd_stream* s, vkd_addr out, vkd_addr in, uint32_t n, vkd_addr scratch,
                               const vkd_scan_desc* desc);
// Reference: the same on the host.
void vkd_ref_scan_exclusive_u32(uint32_t* out,      // (n + 1,)
                                const uint32_t* in, // (n,)
                                uint64_t n);

#endif
