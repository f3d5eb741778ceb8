#version 450
#extension GL_GOOGLE_include_directive : require
#include "common.glsl"
#include "nn/adam.h"
layout(local_size_x = 256) in;
layout(push_constant) uniform Push { vkd_adam_push p; };

// One Adam / AdamW step per element, in the order and roundings of PyTorch's
// _single_tensor_adam(w) (torch 1.13): grad clipping first, as clip_grad_norm_ /
// clip_grad_value_ would have done it to the gradient.
void main() {
    uint i = vkd_global_id();
    if (i >= p.n) return;
    float g = f32(p.grad).v[i] * p.grad_scale;
    if (p.max_norm > 0.0) {
        float norm = f32(p.grad_norm).v[0] * abs(p.grad_scale);
        g *= min(p.max_norm / (norm + 1e-6), 1.0);
    }
    if (p.clip_value > 0.0) g = clamp(g, -p.clip_value, p.clip_value);
    float w = f32(p.param).v[i];
    if (p.l2 != 0.0) g += p.l2 * w;
    w *= p.decay;
    float m = f32(p.m).v[i] * p.beta1 + g * p.one_minus_beta1;
    float v = f32(p.v).v[i] * p.beta2 + p.one_minus_beta2 * (g * g);
    f32(p.m).v[i] = m;
    f32(p.v).v[i] = v;
    float denom = sqrt(v) / p.bc2_sqrt + p.eps;
    f32(p.param).v[i] = w + -p.step_size * (m / denom);
}
