#version 450
#extension GL_GOOGLE_include_directive : require
#include "common.glsl"
#include "nn/softmax.h"
// out[row, c] = exp(z_c - max z) / sum exp(z - max z), z = scale * inp[row, :], masked
// columns (causal) excluded and written as 0. One team (subgroup or workgroup) per row,
// three passes over it: the max; exp(z - max) written to out and summed (one exp per
// element); out divided by the sum. The row stays in cache. out may equal inp: each
// element is read before it is overwritten, by the invocation that overwrites it.
// exp is vkd_exp (~0.6 ULP on every device, as expf in PyTorch) instead of the built-in,
// which Vulkan only bounds by 3 + 2|x| ULP.
layout(constant_id = 0) const uint WG = 256;
layout(constant_id = 1) const bool VKD_TEAM_SG = true;
layout(local_size_x_id = 0) in;
layout(push_constant) uniform Push { vkd_softmax_push p; };
#include "nn/reduce_team.glsl"
#include "nn/eltwise_math.glsl"

void main() {
    const uint lane = vkd_team_lane(), T = vkd_team_size();
    f32 x = f32(p.src), y = f32(p.dst);
    for (uint row = vkd_team_first(); row < p.N; row += vkd_team_stride()) {
        const uint base = row * p.C;
        const uint live = p.causal != 0 ? min(p.C, row % p.C + 1) : p.C;  // columns [0, live) take part
        float m = -VKD_INF;
        for (uint c = lane; c < live; c += T) m = max(m, p.scale * x.v[base + c]);
        const float M = vkd_team_max(m);
        // A row of -inf inputs (M = -inf) gives NaN, as exp(-inf - -inf) does in PyTorch.
        const bool nan_row = M == -VKD_INF;
        float s = 0.0;
        for (uint c = lane; c < p.C; c += T) {
            float e = c >= live ? 0.0 : nan_row ? uintBitsToFloat(0x7fc00000u) : vkd_exp(p.scale * x.v[base + c] - M);
            y.v[base + c] = e;
            s += e;
        }
        const float S = vkd_team_sum(s);
        for (uint c = lane; c < live; c += T) y.v[base + c] /= S;
    }
}
