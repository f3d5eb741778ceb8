#version 450
#extension GL_GOOGLE_include_directive : require
#include "common.glsl"
#include "nn/layernorm.h"
// dinp += rstd * (g - mean(g) - xhat * mean(g * xhat)) per row, g = dout * weight and
// xhat = (x - mean) * rstd from the saved statistics. One team per row.
layout(constant_id = 0) const uint WG = 256;
layout(constant_id = 1) const bool VKD_TEAM_SG = true;
layout(local_size_x_id = 0) in;
layout(push_constant) uniform Push { vkd_layernorm_push p; };
#include "nn/reduce_team.glsl"

void main() {
    const uint lane = vkd_team_lane(), T = vkd_team_size();
    f32 x = f32(p.src), dy = f32(p.dout), w = f32(p.weight), dx = f32(p.dst);
    for (uint row = vkd_team_first(); row < p.N; row += vkd_team_stride()) {
        const uint base = row * p.C;
        const float mean = f32(p.mean).v[row], rs = f32(p.rstd).v[row];
        vec2 acc = vec2(0.0);
        for (uint c = lane; c < p.C; c += T) {
            float g = dy.v[base + c];
            if (p.weight != 0) g *= w.v[c];
            float xhat = (x.v[base + c] - mean) * rs;
            acc += vec2(g, g * xhat);
        }
        acc = vkd_team_sum2(acc) / float(p.C);
        for (uint c = lane; c < p.C; c += T) {
            float g = dy.v[base + c];
            if (p.weight != 0) g *= w.v[c];
            float xhat = (x.v[base + c] - mean) * rs;
            dx.v[base + c] += rs * (g - acc.x - xhat * acc.y);
        }
    }
}
