#version 450
#extension GL_GOOGLE_include_directive : require
#include "common.glsl"
#include "nn/eltwise.h"
#include "nn/eltwise_math.glsl"
layout(local_size_x = 256) in;
layout(push_constant) uniform Push { vkd_geglu_push p; };

// out[r, j] = inp[r, j] * gelu(inp[r, f + j]): diffusers' GEGLU (value | gate halves).
void main() {
    uint i = vkd_global_id();
    if (i >= p.rows * p.f) return;
    uint r = i / p.f, j = i - r * p.f;
    uint base = r * 2u * p.f + j;
    float value = f32(p.src).v[base], gate = f32(p.src).v[base + p.f];
    f32(p.dst).v[i] = value * (gate * vkd_normal_cdf(gate));
}
