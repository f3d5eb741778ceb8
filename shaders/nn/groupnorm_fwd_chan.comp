#version 450
#extension GL_GOOGLE_include_directive : require
#include "common.glsl"
#include "nn/groupnorm.h"
// Split GroupNorm forward, step 1 of 3: statistics of each channel (b, c) over its HW
// values by the corrected two-pass formula, as (m, lo, M2): the mean is m + lo with m the
// float32 first-pass mean and lo = sum(x - m) / HW kept apart (so channel means that differ
// by less than an ulp of m still merge exactly), M2 = sum (x - mean)^2. Stored in the
// first three floats of the channel's own slice of out, which step 3 overwrites. One team
// (subgroup or workgroup) per channel.
layout(constant_id = 0) const uint WG = 256;
layout(constant_id = 1) const bool VKD_TEAM_SG = true;
layout(local_size_x_id = 0) in;
layout(push_constant) uniform Push { vkd_groupnorm_push p; };
#include "nn/reduce_team.glsl"

void main() {
    const uint lane = vkd_team_lane(), T = vkd_team_size();
    const float fn = float(p.HW);
    f32 x = f32(p.src), o = f32(p.dst);
    for (uint bc = vkd_team_first(); bc < p.B * p.C; bc += vkd_team_stride()) {
        const uint base = bc * p.HW;
        float s = 0.0;
        for (uint i = lane; i < p.HW; i += T) s += x.v[base + i];
        const float m = vkd_team_sum(s) / fn;
        vec2 dq = vec2(0.0);
        for (uint i = lane; i < p.HW; i += T) {
            float d = x.v[base + i] - m;
            dq += vec2(d, d * d);
        }
        dq = vkd_team_sum2(dq);
        if (lane == 0) {
            o.v[base] = m;
            o.v[base + 1] = dq.x / fn;
            o.v[base + 2] = max(dq.y - dq.x * (dq.x / fn), 0.0);
        }
    }
}
