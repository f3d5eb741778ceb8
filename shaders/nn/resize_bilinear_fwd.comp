#version 450
#extension GL_GOOGLE_include_directive : require
#include "common.glsl"
#include "nn/resize.h"
// Bilinear resize (PyTorch F.interpolate(mode='bilinear', align_corners=False)):
// out[bc, oy, ox] from inp[bc] (H x W) to OH x OW. One invocation per output pixel.
layout(local_size_x = 64) in;
layout(push_constant) uniform Push { vkd_resize_push p; };
#include "nn/resize_bilinear.glsl"

void main() {
    const uint ox = gl_GlobalInvocationID.x, oy = gl_WorkGroupID.y;
    if (ox >= p.OW) return;
    const bilinear_tap ty = bilinear_at(oy, p.H, p.OH), tx = bilinear_at(ox, p.W, p.OW);
    for (uint bc = gl_WorkGroupID.z; bc < p.BC; bc += gl_NumWorkGroups.z) {
        const uint r0 = (bc * p.H + ty.i0) * p.W, r1 = (bc * p.H + ty.i1) * p.W;
        const float top = mix(f32(p.src).v[r0 + tx.i0], f32(p.src).v[r0 + tx.i1], tx.l1);
        const float bot = mix(f32(p.src).v[r1 + tx.i0], f32(p.src).v[r1 + tx.i1], tx.l1);
        f32(p.dst).v[(bc * p.OH + oy) * p.OW + ox] = mix(top, bot, ty.l1);
    }
}
