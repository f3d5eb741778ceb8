#version 450
#extension GL_GOOGLE_include_directive : require
#include "common.glsl"
#include "nn/scan.h"
// Exclusive scan of each tile of VKD_SCAN_TILE elements, offset by the tile's exclusive
// sum from the level above (p.offsets, or 0 for a single tile). The last tile also writes
// the grand total to dst[n]. dst may equal src: a tile is read completely before any of
// it is written, and no other workgroup touches it.
layout(constant_id = 0) const uint WG = 256;
// 1 (CPUs): each invocation reads and writes its ITEMS consecutive elements straight from
// and to global memory, without staging the tile in shared memory. On llvmpipe every
// memory access is a loop over the SIMD lanes and access order does not matter, so this
// halves the accesses per element; on GPUs it would be uncoalesced.
layout(constant_id = 1) const uint DIRECT = 0;
layout(local_size_x_id = 0) in;
layout(push_constant) uniform Push { vkd_scan_push p; };

const uint ITEMS = VKD_SCAN_TILE / WG;
// One padding word per 32 so that both the strided (global order) and the blocked
// (ITEMS consecutive per invocation) walks over the tile avoid shared-memory bank conflicts.
shared uint tile_buf[DIRECT != 0 ? 1 : VKD_SCAN_TILE + VKD_SCAN_TILE / 32];
shared uint scan_tmp[2 * WG];
#include "nn/scan_block.glsl"

uint padded(uint i) { return i + (i >> 5); }

void main() {
    uint tile = gl_WorkGroupID.y * gl_NumWorkGroups.x + gl_WorkGroupID.x;
    if (tile >= p.tiles) return;
    uint t = gl_LocalInvocationID.x;
    uint base = tile * VKD_SCAN_TILE;
    bool full = base + VKD_SCAN_TILE <= p.n;
    u32 src = u32(p.src);
    u32 dst = u32(p.dst);
    uint offset = p.offsets != 0 ? u32(p.offsets).v[tile] : 0u;
    uint total;
    if (DIRECT != 0) {
        // Reads of an element precede its write in the same invocation: dst == src is fine.
        uint first = base + t * ITEMS;
        uint count = full ? ITEMS : uint(clamp(int(p.n) - int(first), 0, int(ITEMS)));
        uint sum = 0;
        for (uint j = 0; j < count; j++) sum += src.v[first + j];
        uint run = block_scan_exclusive(sum, total) + offset;
        for (uint j = 0; j < count; j++) {
            uint v = src.v[first + j];
            dst.v[first + j] = run;
            run += v;
        }
        if (tile == p.tiles - 1 && t == 0) dst.v[p.n] = offset + total;
        return;
    }
    // Coalesced load into shared memory (zeros past the end keep the sums right).
    for (uint j = 0; j < ITEMS; j++) {
        uint i = j * WG + t;
        tile_buf[padded(i)] = (full || base + i < p.n) ? src.v[base + i] : 0u;
    }
    barrier();
    // Each invocation scans ITEMS consecutive elements serially (read twice from shared
    // memory rather than kept in registers, so ITEMS may be large).
    uint sum = 0;
    for (uint j = 0; j < ITEMS; j++) sum += tile_buf[padded(t * ITEMS + j)];
    uint run = block_scan_exclusive(sum, total) + offset;
    for (uint j = 0; j < ITEMS; j++) {
        uint at = padded(t * ITEMS + j);
        uint v = tile_buf[at];
        tile_buf[at] = run;
        run += v;
    }
    barrier();
    for (uint j = 0; j < ITEMS; j++) {
        uint i = j * WG + t;
        if (full || base + i < p.n) dst.v[base + i] = tile_buf[padded(i)];
    }
    if (tile == p.tiles - 1 && t == 0) dst.v[p.n] = offset + total;
}
