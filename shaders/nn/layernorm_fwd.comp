#version 450
#extension GL_GOOGLE_include_directive : require
#include "common.glsl"
#include "nn/layernorm.h"
// out = (x - mean) * rstd * weight + bias over each row, with mean and rstd saved for the
// backward. Variance by the corrected two-pass formula: m = sum(x) / C, then from
// d = x - m: var = (sum d^2 - (sum d)^2 / C) / C, mean = m + sum d / C. Exact in the
// absence of rounding and immune to the cancellation of E[x^2] - E[x]^2 when |mean| >>
// std. The row stays in cache between passes. One team (subgroup or workgroup) per row;
// out may equal inp: a team reads its whole row before writing it.
layout(constant_id = 0) const uint WG = 256;
layout(constant_id = 1) const bool VKD_TEAM_SG = true;
layout(local_size_x_id = 0) in;
layout(push_constant) uniform Push { vkd_layernorm_push p; };
#include "nn/reduce_team.glsl"

void main() {
    const uint lane = vkd_team_lane(), T = vkd_team_size();
    const float fc = float(p.C);
    f32 x = f32(p.src), y = f32(p.dst);
    for (uint row = vkd_team_first(); row < p.N; row += vkd_team_stride()) {
        const uint base = row * p.C;
        float s = 0.0;
        for (uint c = lane; c < p.C; c += T) s += x.v[base + c];
        const float m = vkd_team_sum(s) / fc;
        vec2 dq = vec2(0.0);
        for (uint c = lane; c < p.C; c += T) {
            float d = x.v[base + c] - m;
            dq += vec2(d, d * d);
        }
        dq = vkd_team_sum2(dq);
        const float mean = m + dq.x / fc;
        const float rs = 1.0 / sqrt(max((dq.y - dq.x * (dq.x / fc)) / fc, 0.0) + p.eps);
        if (lane == 0) {
            f32(p.mean).v[row] = mean;
            f32(p.rstd).v[row] = rs;
        }
        for (uint c = lane; c < p.C; c += T) {
            float v = (x.v[base + c] - mean) * rs;
            if (p.weight != 0) v *= f32(p.weight).v[c];
            if (p.bias != 0) v += f32(p.bias).v[c];
            y.v[base + c] = v;
        }
    }
}
