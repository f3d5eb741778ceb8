#version 450
#extension GL_GOOGLE_include_directive : require
#include "common.glsl"
#include "field/hashgrid.h"

// Backward of hashgrid_head_fwd: the MLP output gradients (whole rows, overwritten) and the bias's
// contribution to d positions (accumulated).
layout(local_size_x = HASHGRID_WG) in;
layout(push_constant) uniform Push { vkd_hashgrid_head_bwd_push p; };
#include "field/hashgrid_field.glsl"

void main() {
    uint i = vkd_global_id();
    if (i >= p.n) return;
    f32 X = f32(p.positions);
    vec3 x = vec3(X.v[3 * i], X.v[3 * i + 1], X.v[3 * i + 2]);
    float dd = p.d_density != 0 ? f32(p.d_density).v[i] : 0.0;
    vec3 bias_grad;
    float z = f32(p.raw).v[i * p.raw_stride] + hg_bias(x, bias_grad);
    float dz = dd * hg_density_grad(z);
    vec3 dfeat = vec3(0);
    if (p.d_rgb != 0 && p.d_feat != 0) {
        f32 FT = f32(p.feat);
        f32 DC = f32(p.d_rgb);
        for (uint c = 0; c < 3; c++) {
            float sg = hg_sigmoid(FT.v[i * p.feat_stride + p.feat_offset + c]);
            dfeat[c] = DC.v[3 * i + c] * sg * (1.0 - sg);
        }
    }
    f32 DR = f32(p.d_raw);
    bool shared_rows = p.d_feat == p.d_raw;
    for (uint c = 0; c < p.raw_stride; c++) {
        float v = c == 0 ? dz : 0.0;
        if (shared_rows && c >= p.feat_offset && c < p.feat_offset + 3) v = dfeat[c - p.feat_offset];
        DR.v[i * p.raw_stride + c] = v;
    }
    if (p.d_feat != 0 && !shared_rows) {
        f32 DF = f32(p.d_feat);
        for (uint c = 0; c < p.feat_stride; c++)
            DF.v[i * p.feat_stride + c] = c >= p.feat_offset && c < p.feat_offset + 3 ? dfeat[c - p.feat_offset] : 0.0;
    }
    if (p.d_positions != 0 && dz != 0.0) {
        f32 DX = f32(p.d_positions);
        vec3 g = dz * bias_grad;
        DX.v[3 * i] += g.x;
        DX.v[3 * i + 1] += g.y;
        DX.v[3 * i + 2] += g.z;
    }
}
