#version 450
#extension GL_GOOGLE_include_directive : require
#include "common.glsl"
#include "nn/conv2d.h"
// conv2d backward weight, second pass: dweight += the split-K partial sums, added in
// split order so the result does not depend on scheduling.
layout(local_size_x = 256) in;
layout(push_constant) uniform Push { vkd_conv2d_sum_push p; };

void main() {
    const uint i = vkd_global_id();
    if (i >= p.n) return;
    float s = 0.0;
    for (uint z = 0; z < p.splits; z++) s += f32(p.src).v[z * p.n + i];
    f32(p.dst).v[i] += s;
}
