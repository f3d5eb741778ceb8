#version 450
#extension GL_GOOGLE_include_directive : require
#include "common.glsl"
#include "nn/eltwise.h"
#include "nn/eltwise_math.glsl"
layout(local_size_x = 256) in;
layout(push_constant) uniform Push { vkd_geglu_push p; };

// dinp[r, j] += dout * gelu(gate), dinp[r, f + j] += dout * value * gelu'(gate).
void main() {
    uint i = vkd_global_id();
    if (i >= p.rows * p.f) return;
    uint r = i / p.f, j = i - r * p.f;
    uint base = r * 2u * p.f + j;
    float value = f32(p.x).v[base], gate = f32(p.x).v[base + p.f];
    float g = f32(p.src).v[i];
    float cdf = vkd_normal_cdf(gate);
    f32(p.dst).v[base] += g * (gate * cdf);
    f32(p.dst).v[base + p.f] += g * value * (cdf + gate * vkd_normal_pdf(gate));
}
