#version 450
#extension GL_GOOGLE_include_directive : require
#include "common.glsl"
#include "nn/concat.h"
// Copies (or accumulates) a window of channels between two NCHW tensors: concat
// forward is two copies, its backward two accumulations, slice forward a copy and
// slice backward an accumulation.
layout(local_size_x = 256) in;
layout(push_constant) uniform Push { vkd_concat_copy_push p; };

void main() {
    const uint i = gl_GlobalInvocationID.x, c = gl_WorkGroupID.y;
    if (i >= p.HW) return;
    for (uint b = gl_WorkGroupID.z; b < p.B; b += gl_NumWorkGroups.z) {
        const float v = f32(p.src).v[(b * p.src_C + p.src_c0 + c) * p.HW + i];
        const uint d = (b * p.dst_C + p.dst_c0 + c) * p.HW + i;
        if (p.accumulate != 0) f32(p.dst).v[d] += v;
        else f32(p.dst).v[d] = v;
    }
}
