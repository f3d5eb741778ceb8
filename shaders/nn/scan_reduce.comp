#version 450
#extension GL_GOOGLE_include_directive : require
#include "common.glsl"
#include "nn/scan.h"
// First level of reduce-then-scan: the sum of each tile of VKD_SCAN_TILE elements.
layout(constant_id = 0) const uint WG = 256;
layout(local_size_x_id = 0) in;
layout(push_constant) uniform Push { vkd_scan_push p; };

const uint ITEMS = VKD_SCAN_TILE / WG;
shared uint scan_tmp[2 * WG];
#include "nn/scan_block.glsl"

void main() {
    uint tile = gl_WorkGroupID.y * gl_NumWorkGroups.x + gl_WorkGroupID.x;
    if (tile >= p.tiles) return;  // whole workgroups only: no barrier is skipped by part of one
    uint t = gl_LocalInvocationID.x;
    uint base = tile * VKD_SCAN_TILE;
    u32 src = u32(p.src);
    uint sum = 0;
    // Strided by WG so each load instruction of the workgroup reads consecutive words.
    if (base + VKD_SCAN_TILE <= p.n) {
        for (uint j = 0; j < ITEMS; j++) sum += src.v[base + j * WG + t];
    } else {
        for (uint j = 0; j < ITEMS; j++) {
            uint i = base + j * WG + t;
            if (i < p.n) sum += src.v[i];
        }
    }
    uint total;
    block_scan_exclusive(sum, total);
    if (t == 0) u32(p.dst).v[tile] = total;
}
