#version 450
#extension GL_GOOGLE_include_directive : require
#include "common.glsl"
#include "field/volrend.h"
#include "field/volrend_composite.glsl"
layout(local_size_x = VOLREND_RAY_WG) in;
layout(push_constant) uniform Push { vkd_volrend_composite_bwd_push p; };

// With v_i = c_i . gC + gO + t_i gD + n_i . gN (the per-sample value the cotangents see) and
// S_i = sum_{j>i} w_j v_j + T_end (bg . gC) (everything behind sample i):
//   dL/dsigma_i = dt_i (T_{i+1} v_i - S_i),  dL/ddt_i = sigma_i (T_{i+1} v_i - S_i),
//   dL/dc_i = w_i gC, dL/dn_i = w_i gN, dL/dt_i = w_i gD, dL/dbg = T_end gC.
// S_i = S_total - (w_0 v_0 + ... + w_i v_i): one pass for the total, one for the gradients.
void main() {
    uint r = vkd_global_id();
    if (r >= p.rays) return;
    uint b = r / p.rays_per_view, pix = r - b * p.rays_per_view;
    vec3 gC = vec3(0.0), gN = vec3(0.0);
    float gO = 0.0, gD = 0.0;
    if (p.g_rgb != 0) {
        f32 G = f32(p.g_rgb);
        gC = vec3(G.v[volrend_img(b, 0, 3, pix, p.rays_per_view)], G.v[volrend_img(b, 1, 3, pix, p.rays_per_view)],
                  G.v[volrend_img(b, 2, 3, pix, p.rays_per_view)]);
    }
    if (p.g_nrm != 0 && p.snrm != 0) {
        f32 G = f32(p.g_nrm);
        gN = vec3(G.v[volrend_img(b, 0, 3, pix, p.rays_per_view)], G.v[volrend_img(b, 1, 3, pix, p.rays_per_view)],
                  G.v[volrend_img(b, 2, 3, pix, p.rays_per_view)]);
    }
    if (p.g_opacity != 0) gO = f32(p.g_opacity).v[r];
    if (p.g_depth != 0) gD = f32(p.g_depth).v[r];
    vec3 bgc = p.bg != 0 ? load3(p.bg, r) : vec3(0.0);

    uint s0 = u32(p.offsets).v[r], s1 = u32(p.offsets).v[r + 1];
    f32 SIG = f32(p.sigma), IV = f32(p.intervals);
    precise float T = 1.0;
    float S = 0.0;
    uint end = s0;
    for (; end < s1; end++) {
        if (T < VOLREND_T_EPS) break;
        float dt = IV.v[2 * end + 1];
        precise float x = SIG.v[end] * dt;
        precise float e = exp(-x);
        precise float w = volrend_alpha(x, e) * T;
        float v = dot(load3(p.srgb, end), gC) + gO + IV.v[2 * end] * gD;
        if (p.snrm != 0) v += dot(load3(p.snrm, end), gN);
        S += w * v;
        T *= e;
    }
    float t_end = T;
    S += t_end * dot(bgc, gC);

    T = 1.0;
    float prefix = 0.0;
    for (uint i = s0; i < end; i++) {
        float dt = IV.v[2 * i + 1], sig = SIG.v[i];
        precise float x = sig * dt;
        precise float e = exp(-x);
        precise float w = volrend_alpha(x, e) * T;
        float v = dot(load3(p.srgb, i), gC) + gO + IV.v[2 * i] * gD;
        if (p.snrm != 0) v += dot(load3(p.snrm, i), gN);
        prefix += w * v;
        precise float tn = T * e;
        float k = tn * v - (S - prefix);
        if (p.d_sigma != 0) f32(p.d_sigma).v[i] += dt * k;
        if (p.d_intervals != 0) {
            f32 DI = f32(p.d_intervals);
            DI.v[2 * i] += w * gD;
            DI.v[2 * i + 1] += sig * k;
        }
        if (p.d_srgb != 0) add3(p.d_srgb, i, w * gC);
        if (p.d_snrm != 0) add3(p.d_snrm, i, w * gN);
        T = tn;
    }
    if (p.d_bg != 0) add3(p.d_bg, r, t_end * gC);
}
