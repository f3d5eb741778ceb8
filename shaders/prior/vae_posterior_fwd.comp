#version 450
#extension GL_GOOGLE_include_directive : require
#include "common.glsl"
#include "prior/vae_posterior.h"
layout(local_size_x = 256) in;
layout(push_constant) uniform Push { vkd_vae_posterior_push p; };

void main() {
    uint i = vkd_global_id();
    if (i >= p.n) return;
    uint b = i / (p.L * p.HW), r = i - b * p.L * p.HW;
    uint src = b * 2u * p.L * p.HW + r;
    float m = f32(p.moments).v[src];
    float lv = clamp(f32(p.moments).v[src + p.L * p.HW], -30.0, 20.0);
    float sd = exp(0.5 * lv);
    if (p.mean != 0) f32(p.mean).v[i] = m;
    if (p.logvar != 0) f32(p.logvar).v[i] = lv;
    if (p.std_ != 0) f32(p.std_).v[i] = sd;
    if (p.z != 0) f32(p.z).v[i] = m + sd * f32(p.noise).v[i];
}
