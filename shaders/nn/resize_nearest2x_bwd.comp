#version 450
#extension GL_GOOGLE_include_directive : require
#include "common.glsl"
#include "nn/resize.h"
// Nearest 2x upsample backward: dinp[bc, y, x] += the sum of its 2x2 block of dout
// (dst = dinp: BC x H x W, src = dout: BC x 2H x 2W). A gather, so deterministic.
layout(local_size_x = 64) in;
layout(push_constant) uniform Push { vkd_resize_push p; };

void main() {
    const uint x = gl_GlobalInvocationID.x, y = gl_WorkGroupID.y;
    if (x >= p.W) return;
    const uint OW = 2 * p.W;
    for (uint bc = gl_WorkGroupID.z; bc < p.BC; bc += gl_NumWorkGroups.z) {
        const uint o = (bc * 2 * p.H + 2 * y) * OW + 2 * x;
        const float s = (f32(p.src).v[o] + f32(p.src).v[o + 1]) + (f32(p.src).v[o + OW] + f32(p.src).v[o + OW + 1]);
        f32(p.dst).v[(bc * p.H + y) * p.W + x] += s;
    }
}
