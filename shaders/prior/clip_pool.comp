#version 450
#extension GL_GOOGLE_include_directive : require
#include "common.glsl"
#include "prior/clip.h"
layout(local_size_x = 64) in;
layout(push_constant) uniform Push { vkd_clip_pool_push p; };

// One invocation per output element. Each finds its row's position by itself: a row is
// at most 77 ids (cached reads), which is cheaper than a second dispatch and a barrier.
void main() {
    uint i = vkd_global_id();
    if (i >= p.B * p.C) return;
    uint b = i / p.C, c = i - b * p.C;
    uint row = b * p.T;
    uint best = 0;
    if (p.eos_id < 0) {
        int m = i32(p.ids).v[row];
        for (uint t = 1; t < p.T; t++) {
            int v = i32(p.ids).v[row + t];
            if (v > m) { m = v; best = t; }
        }
    } else {
        for (uint t = 0; t < p.T; t++) {
            if (i32(p.ids).v[row + t] == p.eos_id) { best = t; break; }
        }
    }
    f32(p.dst).v[i] = f32(p.src).v[(row + best) * p.C + c];
    if (c == 0 && p.pos != 0) i32(p.pos).v[b] = int(best);
}
