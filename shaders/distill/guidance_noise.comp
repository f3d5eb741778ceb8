#version 450
#extension GL_GOOGLE_include_directive : require
#include "common.glsl"
#include "distill/guidance.h"
#include "distill/guidance_rng.glsl"
// eps = N(0, 1) per element, plus offset noise shared by the batch per channel.
layout(local_size_x = 256) in;
layout(push_constant) uniform Push { vkd_guidance_noise_push p; };

void main() {
    uint i = vkd_global_id();
    if (i >= p.n) return;
    uint key = guidance_pcg(guidance_pcg(p.seed_lo) + p.seed_hi);
    float e = guidance_normal(key, i);
    if (p.offset != 0.0) {
        uint c = (i / p.HW) % p.C;
        e += p.offset * guidance_normal(guidance_pcg(key + 0x68bc21ebu), c);
    }
    f32(p.dst).v[i] = e;
}
