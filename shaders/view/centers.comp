#version 450
#extension GL_GOOGLE_include_directive : require
#include "common.glsl"
#include "view/view.h"
layout(local_size_x = 128) in;
layout(push_constant) uniform Push { vkd_view_centers_push p; };

void main() {
    uint i = vkd_global_id();
    if (i >= p.n) return;
    f32 m = f32(p.means), ls = f32(p.log_scales);
    float z = p.r20 * m.v[3 * i] + p.r21 * m.v[3 * i + 1] + p.r22 * m.v[3 * i + 2] + p.t2;
    // Behind the camera the renderer culls anyway; keep the scale finite.
    float s = max(p.pixels * max(z, 1e-6) / p.fx, 1e-8);
    float l = log(s);
    ls.v[3 * i] = l;
    ls.v[3 * i + 1] = l;
    ls.v[3 * i + 2] = l;
    f32(p.opacity).v[i] = p.logit;
}
