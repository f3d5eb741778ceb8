#version 450
#extension GL_GOOGLE_include_directive : require
#include "common.glsl"
#include "prior/prior_axpby.h"
// One sample's affine map: prediction-type conversions (eps <-> v <-> x0), the pixel
// priors' encode (2 x - 1) and its backward, noisy samples z_t = sqrt(abar) z + sqrt(1-abar) eps.
layout(local_size_x = 256) in;
layout(push_constant) uniform Push { vkd_prior_axpby_push p; };

void main() {
    uint i = vkd_global_id();
    if (i >= p.n) return;
    float v = p.a * f32(p.x).v[i] + p.d;
    if (p.y != 0) v += p.c * f32(p.y).v[i];
    if (p.accumulate != 0) v += f32(p.dst).v[i];
    f32(p.dst).v[i] = v;
}
