#version 450
#extension GL_GOOGLE_include_directive : require
#include "common.glsl"
#include "nn/softmax.h"
// dinp[row, c] += scale * out[c] * (dout[c] - sum_k dout[k] out[k]): the softmax Jacobian
// times dout, then the chain rule through z = scale * inp. Masked columns have out = 0
// and get nothing. One team per row.
layout(constant_id = 0) const uint WG = 256;
layout(constant_id = 1) const bool VKD_TEAM_SG = true;
layout(local_size_x_id = 0) in;
layout(push_constant) uniform Push { vkd_softmax_push p; };
#include "nn/reduce_team.glsl"

void main() {
    const uint lane = vkd_team_lane(), T = vkd_team_size();
    f32 y = f32(p.src), dy = f32(p.dout), dx = f32(p.dst);
    for (uint row = vkd_team_first(); row < p.N; row += vkd_team_stride()) {
        const uint base = row * p.C;
        float d = 0.0;
        for (uint c = lane; c < p.C; c += T) d += dy.v[base + c] * y.v[base + c];
        const float dot = vkd_team_sum(d);
        for (uint c = lane; c < p.C; c += T) {
            uint i = base + c;
            dx.v[i] += p.scale * y.v[i] * (dy.v[i] - dot);
        }
    }
}
