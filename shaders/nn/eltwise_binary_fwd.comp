#version 450
#extension GL_GOOGLE_include_directive : require
#include "common.glsl"
#include "nn/eltwise.h"
layout(local_size_x = 256) in;
layout(push_constant) uniform Push { vkd_binary_push p; };
layout(constant_id = 0) const int OP = 0;

// out = a (+ - *) b; out may alias a or b.
void main() {
    uint i = vkd_global_id();
    if (i >= p.n) return;
    float a = f32(p.a).v[i], b = f32(p.b).v[i];
    float r = OP == VKD_BINARY_OP_ADD ? a + b : OP == VKD_BINARY_OP_SUB ? a - b : a * b;
    f32(p.dst).v[i] = r;
}
