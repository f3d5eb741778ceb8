#version 450
#extension GL_GOOGLE_include_directive : require
#include "common.glsl"
#include "prior/scheduler.h"
layout(local_size_x = 256) in;
layout(push_constant) uniform Push { vkd_sched_combine_push p; };
#include "prior/scheduler_coef.glsl"

void main() {
    uint i = vkd_global_id();
    if (i >= p.total) return;
    float ca, cb, cd;
    sched_coefs(i / p.n, ca, cb, cd);
    float x = f32(p.xa).v[i], y = f32(p.xb).v[i];
    // precise: each product rounded on its own, as PyTorch's separate mul and add kernels do
    // (no fused multiply-add), so add_noise and the velocity match diffusers bit for bit.
    precise float r = ca * x + cb * y;
    if (cd != 1.0) r = r / cd;
    f32(p.dst).v[i] = r;
}
