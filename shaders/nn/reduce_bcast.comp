#version 450
#extension GL_GOOGLE_include_directive : require
#include "common.glsl"
#include "nn/reduce.h"
// Backward of sum / mean / column sums: dinp[i] += scale * dout[i % C] (the modulo, an
// integer division that CPUs scalarize, only for column sums).
layout(local_size_x = 256) in;
layout(push_constant) uniform Push { vkd_reduce_bwd_push p; };

void main() {
    const uint i = vkd_global_id();
    if (i >= p.n) return;
    f32(p.dinp).v[i] += p.scale * f32(p.dout).v[p.C == 1 ? 0 : i % p.C];
}
