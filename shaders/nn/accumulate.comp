#version 450
#extension GL_GOOGLE_include_directive : require
#include "common.glsl"
#include "nn/accumulate.h"
layout(local_size_x = 256) in;
layout(push_constant) uniform Push { vkd_accumulate_push p; };

void main() {
    uint i = vkd_global_id();
    if (i >= p.n) return;
    f32(p.dst).v[i] += p.alpha * f32(p.src).v[i];
}
