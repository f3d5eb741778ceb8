#version 450
#extension GL_GOOGLE_include_directive : require
#include "common.glsl"
#include "field/gaussians.h"
layout(local_size_x = 256) in;
layout(constant_id = 0) const uint ROW = 12;  // 3 K floats per Gaussian: a compile-time divisor
layout(push_constant) uniform Push { vkd_gaussians_adam_sh_push p; };

// nn/adam_step.comp's Adam (PyTorch's order and roundings) without weight decay or clipping,
// with the step size chosen per SH coefficient: (count, K, 3) row-major, coefficient 0 is DC.
void main() {
    uint i = vkd_global_id();
    if (i >= p.n) return;
    float step_size = i % ROW < 3u ? p.step_size_dc : p.step_size_rest;
    float g = f32(p.grad).v[i];
    float m = f32(p.m).v[i] * p.beta1 + g * p.one_minus_beta1;
    float v = f32(p.v).v[i] * p.beta2 + p.one_minus_beta2 * (g * g);
    f32(p.m).v[i] = m;
    f32(p.v).v[i] = v;
    float denom = sqrt(v) / p.bc2_sqrt + p.eps;
    f32(p.param).v[i] = f32(p.param).v[i] + -step_size * (m / denom);
}
