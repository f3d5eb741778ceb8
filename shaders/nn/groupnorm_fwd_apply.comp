#version 450
#extension GL_GOOGLE_include_directive : require
#include "common.glsl"
#include "nn/groupnorm.h"
// Split GroupNorm forward, step 3 of 3: out = act((x - mean) * rstd * weight + bias), one
// team (subgroup or workgroup) per channel (b, c), so the channel's constants are loaded
// once and no index needs an integer division (scalarized, hence slow, on CPUs).
layout(constant_id = 0) const uint WG = 256;
layout(constant_id = 1) const bool VKD_TEAM_SG = true;
layout(constant_id = 2) const bool SILU = false;
layout(local_size_x_id = 0) in;
layout(push_constant) uniform Push { vkd_groupnorm_push p; };
#include "nn/reduce_team.glsl"
#include "nn/groupnorm.glsl"

void main() {
    const uint lane = vkd_team_lane(), T = vkd_team_size();
    f32 x = f32(p.src), y = f32(p.dst);
    for (uint bc = vkd_team_first(); bc < p.B * p.C; bc += vkd_team_stride()) {
        const uint base = bc * p.HW, c = bc % p.C;
        const uint bg = (bc / p.C) * p.G + c / (p.C / p.G);
        const float mean = f32(p.mean).v[bg], rs = f32(p.rstd).v[bg];
        for (uint i = lane; i < p.HW; i += T) y.v[base + i] = gn_out((x.v[base + i] - mean) * rs, c);
    }
}
