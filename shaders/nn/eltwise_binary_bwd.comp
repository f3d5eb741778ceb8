#version 450
#extension GL_GOOGLE_include_directive : require
#include "common.glsl"
#include "nn/eltwise.h"
layout(local_size_x = 256) in;
layout(push_constant) uniform Push { vkd_binary_push p; };
layout(constant_id = 0) const int OP = 0;

// da += dout (* b), db += (+-) dout (* a); a zero address skips that gradient.
void main() {
    uint i = vkd_global_id();
    if (i >= p.n) return;
    float g = f32(p.dout).v[i];
    if (p.da != 0) f32(p.da).v[i] += OP == VKD_BINARY_OP_MUL ? g * f32(p.b).v[i] : g;
    if (p.db != 0) f32(p.db).v[i] += OP == VKD_BINARY_OP_MUL ? g * f32(p.a).v[i] : OP == VKD_BINARY_OP_SUB ? -g : g;
}
