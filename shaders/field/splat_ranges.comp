#version 450
#extension GL_GOOGLE_include_directive : require
#include "common.glsl"
#include "field/splat.h"
layout(local_size_x = 256) in;
layout(push_constant) uniform Push { vkd_splat_ranges_push p; };

// One invocation per sorted list entry: the first and last entry of each tile's run set
// that tile's [start, end). Tiles without entries keep the zeros written before.
void main() {
    uint k = vkd_global_id();
    if (k >= p.total) return;
    u32 keys = u32(p.keys), r = u32(p.ranges);
    uint tile = keys.v[2 * k + 1];
    if (k == 0 || keys.v[2 * k - 1] != tile) r.v[2 * tile] = k;
    if (k == p.total - 1 || keys.v[2 * k + 3] != tile) r.v[2 * tile + 1] = k + 1;
}
