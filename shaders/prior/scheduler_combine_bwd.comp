#version 450
#extension GL_GOOGLE_include_directive : require
#include "common.glsl"
#include "prior/scheduler.h"
layout(local_size_x = 256) in;
layout(push_constant) uniform Push { vkd_sched_combine_push p; };
#include "prior/scheduler_coef.glsl"

// da += ca / cd * dout, db += cb / cd * dout (the push's dst and xa fields carry da and db,
// xb carries dout).
void main() {
    uint i = vkd_global_id();
    if (i >= p.total) return;
    float ca, cb, cd;
    sched_coefs(i / p.n, ca, cb, cd);
    float g = f32(p.xb).v[i] / cd;
    if (p.dst != 0) f32(p.dst).v[i] += ca * g;
    if (p.xa != 0) f32(p.xa).v[i] += cb * g;
}
