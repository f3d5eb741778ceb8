#version 450
#extension GL_GOOGLE_include_directive : require
#include "common.glsl"
#include "distill/guidance.h"
// Per-sample sums over the D values of each sample, one team per sample (src/nn/reduce_team.h):
// ||g||^2 for the loss, or BSD's <d - c, d>, ||d - c||^2 and ||e_n - eps||^2. Fixed order:
// deterministic.
layout(constant_id = 0) const uint WG = 256;
layout(constant_id = 1) const bool VKD_TEAM_SG = true;
layout(local_size_x_id = 0) in;
layout(push_constant) uniform Push { vkd_guidance_reduce_push p; };
#include "nn/reduce_team.glsl"

void main() {
    const uint lane = vkd_team_lane(), T = vkd_team_size();
    f32 a = f32(p.a), en = f32(p.e_n), ep = f32(p.eps), st = f32(p.stats);
    for (uint b = vkd_team_first(); b < p.B; b += vkd_team_stride()) {
        const uint base = b * p.D;
        if (p.mode == VKD_GUIDANCE_REDUCE_NORM) {
            float s = 0.0;
            for (uint j = lane; j < p.D; j += T) {
                float g = a.v[base + j];
                s += g * g;
            }
            s = vkd_team_sum(s);
            if (lane == 0) st.v[4 * b] = s;
        } else {
            vec2 s01 = vec2(0.0);
            float s2 = 0.0;
            for (uint j = lane; j < p.D; j += T) {
                float ey = a.v[base + j], e_n = en.v[base + j];
                float eps = p.eps != 0 ? ep.v[base + j] : 0.0;
                float c = p.cs * (ey - e_n), d = p.ds * (e_n - p.dsub * eps);
                float dc = d - c;
                s01 += vec2(dc * d, dc * dc);
                float r = e_n - eps;
                s2 += r * r;
            }
            s01 = vkd_team_sum2(s01);
            s2 = vkd_team_sum(s2);
            if (lane == 0) {
                st.v[4 * b + 1] = s01.x;
                st.v[4 * b + 2] = s01.y;
                st.v[4 * b + 3] = s2;
            }
        }
    }
}
