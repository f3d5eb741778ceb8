#version 450
#extension GL_GOOGLE_include_directive : require
#include "common.glsl"
#include "field/hashgrid.h"

// NeRF field outputs from the MLP outputs: density = act(raw + bias(x)), rgb = sigmoid(features).
layout(local_size_x = HASHGRID_WG) in;
layout(push_constant) uniform Push { vkd_hashgrid_head_fwd_push p; };
#include "field/hashgrid_field.glsl"

void main() {
    uint i = vkd_global_id();
    if (i >= p.n) return;
    if (p.density != 0) {
        f32 X = f32(p.positions);
        vec3 g;
        float z = f32(p.raw).v[i * p.raw_stride] + hg_bias(vec3(X.v[3 * i], X.v[3 * i + 1], X.v[3 * i + 2]), g);
        f32(p.density).v[i] = hg_density(z);
    }
    if (p.rgb != 0) {
        f32 FT = f32(p.feat);
        f32 C = f32(p.rgb);
        for (uint c = 0; c < 3; c++) C.v[3 * i + c] = hg_sigmoid(FT.v[i * p.feat_stride + p.feat_offset + c]);
    }
}
