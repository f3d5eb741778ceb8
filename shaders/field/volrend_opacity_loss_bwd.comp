#version 450
#extension GL_GOOGLE_include_directive : require
#include "common.glsl"
#include "field/volrend.h"
#include "field/volrend_loss.glsl"
layout(local_size_x = 256) in;

void main() {
    uint i = vkd_global_id();
    if (i >= p.n) return;
    f32(p.dst).v[i] += p.d_loss * p.scale * opacity_grad(f32(p.opacity).v[i]);
}
