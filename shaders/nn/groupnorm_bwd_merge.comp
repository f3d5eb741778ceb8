#version 450
#extension GL_GOOGLE_include_directive : require
#include "common.glsl"
#include "nn/groupnorm.h"
// GroupNorm backward, step 2 of 3, one invocation per channel c (parameter gradients:
// dweight[c] += sum_b s2[b, c], dbias[c] += sum_b s1[b, c], in batch order) and, after
// those, one per group (b, g) (the input gradient's means mean(dxhat) and mean(dxhat xhat),
// dxhat = dy * weight, written to scratch after the channel sums). Fixed orders: deterministic.
layout(local_size_x = 64) in;
layout(push_constant) uniform Push { vkd_groupnorm_push p; };

void main() {
    const uint i = vkd_global_id();
    f32 sums = f32(p.scratch);
    if (i < p.C) {
        if (p.dweight == 0 && p.dbias == 0) return;
        vec2 acc = vec2(0.0);
        for (uint b = 0; b < p.B; b++) acc += vec2(sums.v[2 * (b * p.C + i)], sums.v[2 * (b * p.C + i) + 1]);
        if (p.dweight != 0) f32(p.dweight).v[i] += acc.y;
        if (p.dbias != 0) f32(p.dbias).v[i] += acc.x;
        return;
    }
    const uint bg = i - p.C;
    if (bg >= p.B * p.G || p.dst == 0) return;
    const uint cg = p.C / p.G, b = bg / p.G, c0 = (bg % p.G) * cg;
    vec2 acc = vec2(0.0);
    for (uint k = 0; k < cg; k++) {
        uint bc = b * p.C + c0 + k;
        float w = p.weight != 0 ? f32(p.weight).v[c0 + k] : 1.0;
        acc += w * vec2(sums.v[2 * bc], sums.v[2 * bc + 1]);
    }
    acc /= float(cg) * float(p.HW);
    const uint at = 2 * p.B * p.C + 2 * bg;
    sums.v[at] = acc.x;
    sums.v[at + 1] = acc.y;
}
