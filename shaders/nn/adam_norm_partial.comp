#version 450
#extension GL_GOOGLE_include_directive : require
#include "common.glsl"
#include "nn/adam.h"
layout(local_size_x = 256) in;
layout(push_constant) uniform Push { vkd_grad_norm_push p; };

shared float partial[256];

// partials[group] = sum of src[i]^2 over this group's grid-strided share. Fixed
// summation order (strided sums, then a tree): bit-reproducible, no atomics.
void main() {
    uint lid = gl_LocalInvocationID.x;
    uint stride = gl_NumWorkGroups.x * 256u;
    float acc = 0.0;
    for (uint i = gl_WorkGroupID.x * 256u + lid; i < p.n; i += stride) {
        float x = f32(p.src).v[i];
        acc += x * x;
    }
    partial[lid] = acc;
    barrier();
    for (uint s = 128; s > 0; s >>= 1) {
        if (lid < s) partial[lid] += partial[lid + s];
        barrier();
    }
    if (lid == 0) f32(p.dst).v[gl_WorkGroupID.x] = partial[0];
}
