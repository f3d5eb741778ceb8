#version 450
#extension GL_GOOGLE_include_directive : require
#include "common.glsl"
#include "nn/adam.h"
layout(local_size_x = 256) in;
layout(push_constant) uniform Push { vkd_grad_norm_push p; };

shared float partial[256];

// out[0] = sqrt(sum of the n <= 256 partial sums), one work group.
void main() {
    uint lid = gl_LocalInvocationID.x;
    partial[lid] = lid < p.n ? f32(p.src).v[lid] : 0.0;
    barrier();
    for (uint s = 128; s > 0; s >>= 1) {
        if (lid < s) partial[lid] += partial[lid + s];
        barrier();
    }
    if (lid == 0) f32(p.dst).v[0] = sqrt(partial[0]);
}
