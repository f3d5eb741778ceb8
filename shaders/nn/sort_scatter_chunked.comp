#version 450
#extension GL_GOOGLE_include_directive : require
#include "common.glsl"
#include "nn/sort.h"
// Stable scatter for CPUs (llvmpipe), after sort_hist with CHUNKED = 1: invocation t
// owns the consecutive keys [t * chunk, (t + 1) * chunk) of the block and walks them in
// order. Its first key of digit d goes to the block's global offset for d (the scanned
// histogram) plus the count of digit d in the chunks before its own (a scan over the
// invocations' columns), and each further one to the next place: a stable scatter.
// No tiles, no exchange through shared memory: llvmpipe turns every shared or global
// access into a loop over the SIMD lanes, and this does six per key where the tiled
// scatter does about sixteen plus a counter scan per tile (measured 4x slower there).
// Most of the remaining time is the stores to 256 digit runs per lane (cache and TLB
// misses). Not meant for GPUs (uncoalesced loads and stores).
layout(constant_id = 0) const uint WG = 8;
layout(constant_id = 1) const uint KEY_WORDS = 2;  // 2: uint64 keys, 1: uint32 keys
layout(local_size_x_id = 0) in;
layout(push_constant) uniform Push { vkd_sort_push p; };

layout(buffer_reference, scalar, buffer_reference_align = 8) buffer sort_u32x2 { uvec2 v[]; };

const uint COLUMN_WORDS = VKD_SORT_RADIX * WG;
// Digit d, invocation t at d * WG + t: first the counts, then the next destination.
shared uint next[COLUMN_WORDS];

void main() {
    uint block = gl_WorkGroupID.y * gl_NumWorkGroups.x + gl_WorkGroupID.x;
    if (block >= p.blocks) return;
    uint t = gl_LocalInvocationID.x;
    u32 columns = u32(p.columns);
    uint at = block * COLUMN_WORDS;
    for (uint w = t; w < COLUMN_WORDS; w += WG) next[w] = columns.v[at + w];
    barrier();
    u32 hist = u32(p.hist);
    for (uint d = t; d < VKD_SORT_RADIX; d += WG) {
        uint run = hist.v[d * p.blocks + block];
        for (uint c = 0; c < WG; c++) {
            uint count = next[d * WG + c];
            next[d * WG + c] = run;
            run += count;
        }
    }
    barrier();

    uint begin = block * p.block_items;
    uint end = min(p.n, begin + p.block_items);
    uint chunk = p.block_items / WG;
    uint first = begin + t * chunk;
    uint last = min(end, first + chunk);
    bool has_values = p.values_in != 0;
    sort_u32x2 k64_in = sort_u32x2(p.keys_in), k64_out = sort_u32x2(p.keys_out);
    u32 k32_in = u32(p.keys_in), k32_out = u32(p.keys_out);
    u32 v_in = u32(p.values_in), v_out = u32(p.values_out);
    uint sh = p.shift & 31u;
    bool high = p.shift >= 32;
    for (uint i = first; i < last; i++) {
        uvec2 k = KEY_WORDS == 2 ? k64_in.v[i] : uvec2(k32_in.v[i], 0u);
        uint d = ((high ? k.y : k.x) >> sh) & p.mask;
        uint dst = next[d * WG + t];
        next[d * WG + t] = dst + 1u;
        if (KEY_WORDS == 2) k64_out.v[dst] = k;
        else k32_out.v[dst] = k.x;
        if (has_values) v_out.v[dst] = v_in.v[i];
    }
}
