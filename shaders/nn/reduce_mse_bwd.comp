#version 450
#extension GL_GOOGLE_include_directive : require
#include "common.glsl"
#include "nn/reduce.h"
// Backward of mean((a - b)^2): da += k (a - b), db -= k (a - b), k = 2 / n * dloss[0]
// (scale = 2 / n from the host); either gradient may be 0.
layout(local_size_x = 256) in;
layout(push_constant) uniform Push { vkd_reduce_bwd_push p; };

void main() {
    const uint i = vkd_global_id();
    if (i >= p.n) return;
    const float g = p.scale * f32(p.dout).v[0] * (f32(p.a).v[i] - f32(p.b).v[i]);
    if (p.dinp != 0) f32(p.dinp).v[i] += g;
    if (p.db != 0) f32(p.db).v[i] -= g;
}
