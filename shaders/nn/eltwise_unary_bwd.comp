#version 450
#extension GL_GOOGLE_include_directive : require
#include "common.glsl"
#include "nn/eltwise.h"
#include "nn/eltwise_math.glsl"
layout(local_size_x = 256) in;
layout(push_constant) uniform Push { vkd_unary_push p; };
layout(constant_id = 0) const int OP = 0;

// dinp += dout * f'(inp)
void main() {
    uint i = vkd_global_id();
    if (i >= p.n) return;
    float d = f32(p.src).v[i] * vkd_unary_deriv(OP, f32(p.x).v[i], p.alpha);
    f32(p.dst).v[i] += d;
}
