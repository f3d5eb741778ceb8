#version 450
#extension GL_GOOGLE_include_directive : require
#include "common.glsl"
#include "nn/conv2d.h"
// conv2d backward bias: dbias[oc] += sum of dout[b, oc, :, :] over b and pixels. One
// workgroup per channel (the C side limits OC to one grid row), strided partial sums,
// then a fixed-shape tree in shared memory: deterministic, no atomics.
layout(local_size_x = 256) in;
layout(push_constant) uniform Push { vkd_conv2d_bgrad_push p; };

shared float part[256];

void main() {
    const uint oc = gl_WorkGroupID.x, t = gl_LocalInvocationIndex;
    float s = 0.0;
    for (uint b = 0; b < p.B; b++) {
        const uint base = (b * p.OC + oc) * p.HW;
        for (uint i = t; i < p.HW; i += 256) s += f32(p.dout).v[base + i];
    }
    part[t] = s;
    barrier();
    for (uint w = 128; w > 0; w >>= 1) {
        if (t < w) part[t] += part[t + w];
        barrier();
    }
    if (t == 0) f32(p.dbias).v[oc] += part[0];
}
