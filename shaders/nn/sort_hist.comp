#version 450
#extension GL_GOOGLE_include_directive : require
#include "common.glsl"
#include "nn/sort.h"
// Digit histogram of one block of keys: hist[d * blocks + block].
// CHUNKED = 0 (GPUs): invocations stride through the block (coalesced loads) and count
// with shared-memory atomics into HIST_COPIES histograms; neighbouring invocations use
// different copies, which spreads the contention of runs of equal digits.
// CHUNKED = 1 (CPUs, for sort_scatter_chunked): invocation t counts the consecutive keys
// [t * chunk, (t + 1) * chunk) of the block into its own column of 32-bit counters with
// plain loads and stores (llvmpipe turns every shared atomic into a locked instruction per
// lane), and also stores the columns: the scatter ranks with them.
layout(constant_id = 0) const uint WG = 256;
layout(constant_id = 1) const uint KEY_WORDS = 2;  // 2: uint64 keys, 1: uint32 keys
layout(constant_id = 2) const uint CHUNKED = 0;
layout(local_size_x_id = 0) in;
layout(push_constant) uniform Push { vkd_sort_push p; };

const uint HIST_COPIES = 4;
const uint COLUMN_WORDS = VKD_SORT_RADIX * WG;
const uint ATOMIC_WORDS = HIST_COPIES * VKD_SORT_RADIX;
shared uint counters[CHUNKED != 0 ? COLUMN_WORDS : ATOMIC_WORDS];

void main() {
    uint block = gl_WorkGroupID.y * gl_NumWorkGroups.x + gl_WorkGroupID.x;
    if (block >= p.blocks) return;
    uint t = gl_LocalInvocationID.x;
    uint begin = block * p.block_items;
    uint end = min(p.n, begin + p.block_items);
    // Only the 32-bit half of each key that holds the digit is read.
    u32 keys = u32(p.keys_in);
    uint half_word = KEY_WORDS == 2 && p.shift >= 32 ? 1u : 0u;
    uint sh = p.shift & 31u;
    u32 hist = u32(p.hist);

    if (CHUNKED != 0) {
        // Column t holds digit d at d * WG + t: digit-major, the order the scatter scans.
        for (uint d = 0; d < VKD_SORT_RADIX; d++) counters[d * WG + t] = 0;
        uint chunk = p.block_items / WG;
        uint first = begin + t * chunk;
        uint last = min(end, first + chunk);
        for (uint i = first; i < last; i++) {
            uint d = (keys.v[i * KEY_WORDS + half_word] >> sh) & p.mask;
            counters[d * WG + t] += 1u;
        }
        barrier();
        u32 columns = u32(p.columns);
        uint at = block * COLUMN_WORDS;
        for (uint w = t; w < COLUMN_WORDS; w += WG) columns.v[at + w] = counters[w];
        for (uint d = t; d < VKD_SORT_RADIX; d += WG) {
            uint sum = 0;
            for (uint c = 0; c < WG; c++) sum += counters[d * WG + c];
            hist.v[d * p.blocks + block] = sum;
        }
    } else {
        for (uint w = t; w < ATOMIC_WORDS; w += WG) counters[w] = 0;
        barrier();
        uint copy = (t & (HIST_COPIES - 1)) * VKD_SORT_RADIX;
        for (uint i = begin + t; i < end; i += WG) {
            uint d = (keys.v[i * KEY_WORDS + half_word] >> sh) & p.mask;
            atomicAdd(counters[copy + d], 1u);
        }
        barrier();
        for (uint d = t; d < VKD_SORT_RADIX; d += WG) {
            uint sum = 0;
            for (uint c = 0; c < HIST_COPIES; c++) sum += counters[c * VKD_SORT_RADIX + d];
            hist.v[d * p.blocks + block] = sum;
        }
    }
}
