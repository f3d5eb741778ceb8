#version 450
#extension GL_GOOGLE_include_directive : require
#include "common.glsl"
#include "field/volrend.h"
#include "field/volrend_composite.glsl"
layout(local_size_x = VOLREND_RAY_WG) in;
layout(push_constant) uniform Push { vkd_volrend_composite_push p; };

void main() {
    uint r = vkd_global_id();
    if (r >= p.rays) return;
    uint b = r / p.rays_per_view, pix = r - b * p.rays_per_view;
    uint s0 = u32(p.offsets).v[r], s1 = u32(p.offsets).v[r + 1];
    f32 SIG = f32(p.sigma), IV = f32(p.intervals);
    precise float T = 1.0;
    vec3 C = vec3(0.0), N = vec3(0.0);
    float O = 0.0, Dp = 0.0;
    uint i = s0;
    for (; i < s1; i++) {
        if (T < VOLREND_T_EPS) break;
        float dt = IV.v[2 * i + 1];
        precise float x = SIG.v[i] * dt;
        precise float e = exp(-x);
        precise float w = volrend_alpha(x, e) * T;
        C += w * load3(p.srgb, i);
        O += w;
        Dp += w * IV.v[2 * i];
        if (p.snrm != 0) N += w * load3(p.snrm, i);
        if (p.weights != 0) f32(p.weights).v[i] = w;
        T *= e;
    }
    if (p.weights != 0)
        for (; i < s1; i++) f32(p.weights).v[i] = 0.0;
    if (p.bg != 0) C += T * load3(p.bg, r);
    if (p.rgb != 0) {
        f32 R = f32(p.rgb);
        R.v[volrend_img(b, 0, 3, pix, p.rays_per_view)] = C.x;
        R.v[volrend_img(b, 1, 3, pix, p.rays_per_view)] = C.y;
        R.v[volrend_img(b, 2, 3, pix, p.rays_per_view)] = C.z;
    }
    if (p.opacity != 0) f32(p.opacity).v[r] = O;
    if (p.depth != 0) f32(p.depth).v[r] = Dp;
    if (p.nrm != 0) {
        f32 R = f32(p.nrm);
        R.v[volrend_img(b, 0, 3, pix, p.rays_per_view)] = N.x;
        R.v[volrend_img(b, 1, 3, pix, p.rays_per_view)] = N.y;
        R.v[volrend_img(b, 2, 3, pix, p.rays_per_view)] = N.z;
    }
}
