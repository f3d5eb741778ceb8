#version 450
#extension GL_GOOGLE_include_directive : require
#include "common.glsl"
#include "field/gaussians.h"
layout(local_size_x = 256) in;
layout(push_constant) uniform Push { vkd_gaussians_reset_opacity_push p; };

// In logit space min(opacity, max) is min(logit, logit(max)): sigmoid is monotonic, and
// Gaussians already below the cap keep their logit bit for bit (no sigmoid/log round trip).
void main() {
    uint i = vkd_global_id();
    if (i >= p.count) return;
    f32(p.logits).v[i] = min(f32(p.logits).v[i], p.max_logit);
    f32(p.m).v[i] = 0.0;
    f32(p.v).v[i] = 0.0;
}
