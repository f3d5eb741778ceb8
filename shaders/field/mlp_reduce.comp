#version 450
#extension GL_GOOGLE_include_directive : require
#include "common.glsl"
#include "field/mlp.h"

// Sums the per-chunk partial gradients in chunk order (deterministic) into d_params.
layout(local_size_x = MLP_REDUCE_WG) in;
layout(push_constant) uniform Push { vkd_mlp_reduce_push p; };

void main() {
    uint i = vkd_global_id();
    if (i >= p.count) return;
    f32 PART = f32(p.partial);
    float s = 0.0;
    for (uint c = 0; c < p.chunks; c++) s += PART.v[c * p.count + i];
    f32(p.d_params).v[i] += s;
}
