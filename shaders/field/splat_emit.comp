#version 450
#extension GL_GOOGLE_include_directive : require
#include "common.glsl"
#include "field/splat.h"
layout(local_size_x = 128) in;
layout(push_constant) uniform Push { vkd_splat_emit_push p; };

// One invocation per (view, Gaussian): writes a (tile, depth) key and the Gaussian's index for
// every tile it touches, at its place in the exclusive scan of the counts.
void main() {
    uint e = vkd_global_id();
    if (e >= p.n * p.views) return;
    u32 off = u32(p.offsets);
    uint at = off.v[e], end = off.v[e + 1];
    if (at == end) return;
    uint view = e / p.n, i = e - view * p.n;
    u32 pr = u32(p.proj);
    uint depth_bits = pr.v[SPLAT_PROJ_FLOATS * e + 6];  // z > 0: its float bits sort like the value
    uint r0 = pr.v[SPLAT_PROJ_FLOATS * e + 7], r1 = pr.v[SPLAT_PROJ_FLOATS * e + 11];
    uint x0 = r0 & 0xffffu, y0 = r0 >> 16, x1 = r1 & 0xffffu, y1 = r1 >> 16;
    u32 keys = u32(p.keys), values = u32(p.values);
    uint tile0 = view * p.tiles_per_view;
    for (uint ty = y0; ty < y1; ty++)
        for (uint tx = x0; tx < x1; tx++) {
            keys.v[2 * at] = depth_bits;                           // low word
            keys.v[2 * at + 1] = tile0 + ty * p.tiles_x + tx;      // high word
            values.v[at] = i;
            at++;
        }
}
