#version 450
#extension GL_GOOGLE_include_directive : require
#include "common.glsl"
#include "field/volrend.h"
#include "field/volrend_loss.glsl"
layout(local_size_x = 256) in;

// d/dn [w max(0, n . d)^2] = 2 w max(0, n . d) d (w detached).
void main() {
    uint i = vkd_global_id();
    if (i >= p.n) return;
    vec3 d = loss_load3(p.dirs, i);
    float c = max(dot(loss_load3(p.nrm, i), d), 0.0);
    if (c <= 0.0) return;
    vec3 g = (p.d_loss * p.scale * 2.0 * f32(p.weights).v[i] * c) * d;
    f32 D = f32(p.dst);
    D.v[3 * i] += g.x;
    D.v[3 * i + 1] += g.y;
    D.v[3 * i + 2] += g.z;
}
