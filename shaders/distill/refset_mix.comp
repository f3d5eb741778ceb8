#version 450
#extension GL_GOOGLE_include_directive : require
#include "common.glsl"
#include "distill/refset.h"
// One sample's posterior mean x0 = sum_i w_i x_i and the prediction derived from it. Each
// invocation owns one element and walks the images (reads of x coalesce across the
// workgroup). Weights below 2^-32 are skipped (a uniform branch: every invocation reads the
// same weight): with sum w = 1 and |x| <= 1 they move x0 by less than N 2^-32, under float32
// resolution for sets up to thousands of images, and at small t or with view weighting they
// are nearly all of them.
layout(local_size_x = 256) in;
layout(push_constant) uniform Push { vkd_refset_mix_push p; };

void main() {
    uint j = vkd_global_id();
    if (j >= p.D) return;
    f32 w = f32(p.weights), x = f32(p.images);
    float x0 = 0.0;
    for (uint i = 0; i < p.N; i++) {
        float wi = w.v[i];
        if (!(wi < VKD_REFSET_MIN_WEIGHT)) x0 += wi * x.v[i * p.D + j];  // NaN weights propagate
    }
    float z = f32(p.z).v[j];
    float eps = (z - p.sqrt_abar * x0) / p.sqrt_var;
    float r = p.mode == VKD_REFSET_X0 ? x0 : p.mode == VKD_REFSET_V ? p.sqrt_abar * eps - p.sqrt_var * x0 : eps;
    f32(p.dst).v[j] = r;
    if (p.x0 != 0) f32(p.x0).v[j] = x0;
}
