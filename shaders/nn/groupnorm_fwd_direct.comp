#version 450
#extension GL_GOOGLE_include_directive : require
#include "common.glsl"
#include "nn/groupnorm.h"
// GroupNorm forward with one team (subgroup or workgroup) per group (b, g): statistics
// by the corrected two-pass formula (m = sum / n; then d = x - m: var = (sum d^2 -
// (sum d)^2 / n) / n, mean = m + sum d / n), saved, then the normalized output. Used for
// small groups, for images of 1 or 2 pixels and when out aliases inp (a team reads its
// whole group before writing it).
layout(constant_id = 0) const uint WG = 256;
layout(constant_id = 1) const bool VKD_TEAM_SG = true;
layout(constant_id = 2) const bool SILU = false;
layout(local_size_x_id = 0) in;
layout(push_constant) uniform Push { vkd_groupnorm_push p; };
#include "nn/reduce_team.glsl"
#include "nn/groupnorm.glsl"

void main() {
    const uint lane = vkd_team_lane(), T = vkd_team_size();
    const uint cg = p.C / p.G, n = cg * p.HW;
    const float fn = float(n);
    f32 x = f32(p.src), y = f32(p.dst);
    for (uint bg = vkd_team_first(); bg < p.B * p.G; bg += vkd_team_stride()) {
        const uint base = bg * n, c0 = (bg % p.G) * cg;
        float s = 0.0;
        for (uint i = lane; i < n; i += T) s += x.v[base + i];
        const float m = vkd_team_sum(s) / fn;
        vec2 dq = vec2(0.0);
        for (uint i = lane; i < n; i += T) {
            float d = x.v[base + i] - m;
            dq += vec2(d, d * d);
        }
        dq = vkd_team_sum2(dq);
        const float mean = m + dq.x / fn;
        const float rs = 1.0 / sqrt(max((dq.y - dq.x * (dq.x / fn)) / fn, 0.0) + p.eps);
        if (lane == 0) {
            f32(p.mean).v[bg] = mean;
            f32(p.rstd).v[bg] = rs;
        }
        // Value i is pixel i % HW of channel c0 + i / HW; both are stepped along with i
        // (by T = T / HW channels and T % HW pixels) instead of divided per value.
        const uint dk = T / p.HW, dh = T % p.HW;
        uint k = lane / p.HW, h = lane % p.HW;
        for (uint i = lane; i < n; i += T) {
            y.v[base + i] = gn_out((x.v[base + i] - mean) * rs, c0 + k);
            k += dk;
            h += dh;
            if (h >= p.HW) h -= p.HW, k++;
        }
    }
}
