#version 450
#extension GL_GOOGLE_include_directive : require
#include "common.glsl"
#include "nn/groupnorm.h"
// Split GroupNorm forward, step 2 of 3: one invocation per group (b, g) merges its C / G
// channel statistics (equal counts HW) into mean and rstd. Channel means are taken
// relative to the first one, dev_k = (m_k - m_0) + lo_k (the difference is exact for close
// means), and the group's M2 = sum M2_k + HW sum (dev_k - mean dev)^2: a two-pass formula
// over the channels, with no cancellation when |mean| >> std.
layout(local_size_x = 64) in;
layout(push_constant) uniform Push { vkd_groupnorm_push p; };

void main() {
    const uint bg = vkd_global_id();
    if (bg >= p.B * p.G) return;
    const uint cg = p.C / p.G;
    f32 o = f32(p.dst);
    const uint first = bg * cg * p.HW;  // channel k's partials start at first + k * HW
    const float ref = o.v[first];
    float dsum = 0.0;
    for (uint k = 0; k < cg; k++) dsum += (o.v[first + k * p.HW] - ref) + o.v[first + k * p.HW + 1];
    const float dbar = dsum / float(cg);
    float between = 0.0, within = 0.0;
    for (uint k = 0; k < cg; k++) {
        float dv = (o.v[first + k * p.HW] - ref) + o.v[first + k * p.HW + 1] - dbar;
        between += dv * dv;
        within += o.v[first + k * p.HW + 2];
    }
    const float var = (within + float(p.HW) * between) / (float(cg) * float(p.HW));
    f32(p.mean).v[bg] = ref + dbar;
    f32(p.rstd).v[bg] = 1.0 / sqrt(max(var, 0.0) + p.eps);
}
