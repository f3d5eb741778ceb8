#version 450
#extension GL_GOOGLE_include_directive : require
#include "common.glsl"
#include "nn/groupnorm.h"
// GroupNorm backward, step 3 of 3: dinp += rstd * (dxhat - mean(dxhat) - xhat *
// mean(dxhat xhat)), dxhat = dy * weight, with the group means from step 2. One team
// (subgroup or workgroup) per channel (b, c): per-channel constants loaded once, no
// per-element integer division.
layout(constant_id = 0) const uint WG = 256;
layout(constant_id = 1) const bool VKD_TEAM_SG = true;
layout(constant_id = 2) const bool SILU = false;
layout(local_size_x_id = 0) in;
layout(push_constant) uniform Push { vkd_groupnorm_push p; };
#include "nn/reduce_team.glsl"
#include "nn/groupnorm.glsl"

void main() {
    const uint lane = vkd_team_lane(), T = vkd_team_size();
    f32 x = f32(p.src), dout = f32(p.dout), dx = f32(p.dst);
    for (uint bc = vkd_team_first(); bc < p.B * p.C; bc += vkd_team_stride()) {
        const uint base = bc * p.HW, c = bc % p.C;
        const uint bg = (bc / p.C) * p.G + c / (p.C / p.G);
        const float mean = f32(p.mean).v[bg], rs = f32(p.rstd).v[bg], w = gn_weight(c);
        const uint at = 2 * p.B * p.C + 2 * bg;
        const float m1 = f32(p.scratch).v[at], m2 = f32(p.scratch).v[at + 1];
        for (uint i = lane; i < p.HW; i += T) {
            float xhat = (x.v[base + i] - mean) * rs;
            float dxhat = gn_dy(dout.v[base + i], xhat, c) * w;
            dx.v[base + i] += rs * (dxhat - m1 - xhat * m2);
        }
    }
}
