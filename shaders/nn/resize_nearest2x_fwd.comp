#version 450
#extension GL_GOOGLE_include_directive : require
#include "common.glsl"
#include "nn/resize.h"
// Nearest 2x upsample: out[bc, 2y + i, 2x + j] = inp[bc, y, x]. One invocation per input
// pixel (x = global x, y = workgroup y), writing its 2x2 block.
layout(local_size_x = 64) in;
layout(push_constant) uniform Push { vkd_resize_push p; };

void main() {
    const uint x = gl_GlobalInvocationID.x, y = gl_WorkGroupID.y;
    if (x >= p.W) return;
    const uint OW = 2 * p.W;
    for (uint bc = gl_WorkGroupID.z; bc < p.BC; bc += gl_NumWorkGroups.z) {
        const float v = f32(p.src).v[(bc * p.H + y) * p.W + x];
        const uint o = (bc * 2 * p.H + 2 * y) * OW + 2 * x;
        f32(p.dst).v[o] = v;
        f32(p.dst).v[o + 1] = v;
        f32(p.dst).v[o + OW] = v;
        f32(p.dst).v[o + OW + 1] = v;
    }
}
