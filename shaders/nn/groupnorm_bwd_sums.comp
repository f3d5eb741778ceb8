#version 450
#extension GL_GOOGLE_include_directive : require
#include "common.glsl"
#include "nn/groupnorm.h"
// GroupNorm backward, step 1 of 3: per channel (b, c), s1 = sum dy and s2 = sum dy * xhat
// over HW, with dy = dL/d(affine output) (through the SiLU when fused), into scratch.
// Everything else is a combination of these: dbias = sum_b s1, dweight = sum_b s2, and the
// input gradient's group means mean(dxhat) = sum_c w_c s1 / n, mean(dxhat xhat) likewise.
// One team (subgroup or workgroup) per channel.
layout(constant_id = 0) const uint WG = 256;
layout(constant_id = 1) const bool VKD_TEAM_SG = true;
layout(constant_id = 2) const bool SILU = false;
layout(local_size_x_id = 0) in;
layout(push_constant) uniform Push { vkd_groupnorm_push p; };
#include "nn/reduce_team.glsl"
#include "nn/groupnorm.glsl"

void main() {
    const uint lane = vkd_team_lane(), T = vkd_team_size();
    f32 x = f32(p.src), dout = f32(p.dout);
    for (uint bc = vkd_team_first(); bc < p.B * p.C; bc += vkd_team_stride()) {
        const uint base = bc * p.HW, c = bc % p.C;
        const uint bg = (bc / p.C) * p.G + c / (p.C / p.G);
        const float mean = f32(p.mean).v[bg], rs = f32(p.rstd).v[bg];
        vec2 acc = vec2(0.0);
        for (uint i = lane; i < p.HW; i += T) {
            float xhat = (x.v[base + i] - mean) * rs;
            float dy = gn_dy(dout.v[base + i], xhat, c);
            acc += vec2(dy, dy * xhat);
        }
        acc = vkd_team_sum2(acc);
        if (lane == 0) {
            f32(p.scratch).v[2 * bc] = acc.x;
            f32(p.scratch).v[2 * bc + 1] = acc.y;
        }
    }
}
