#version 450
#extension GL_GOOGLE_include_directive : require
#include "common.glsl"
#include "distill/guidance.h"
// One sample's guidance gradient g (include/vkdream/guidance.h), clipped by value. BSD reads
// its per-sample sums (guidance_reduce) to mix the classifier and smoothing directions at
// their min-norm point.
layout(local_size_x = 256) in;
layout(push_constant) uniform Push { vkd_guidance_combine_push p; };

void main() {
    uint j = vkd_global_id();
    if (j >= p.D) return;
    float ey = f32(p.e_y).v[j], e_n = f32(p.e_n).v[j];
    float g;
    if (p.method == VKD_GUIDANCE_BSD) {
        f32 st = f32(p.stats);
        float num = st.v[1], den = st.v[2];
        // clamp() may turn NaN into a bound; NaNs must survive to the step's finiteness check.
        float lambda = den > 0.0 ? num / den : 0.0;
        if (!isnan(lambda)) lambda = clamp(lambda, 0.0, 1.0);
        float w = p.bsd_auto != 0 ? sqrt(st.v[3]) * p.w : p.w;
        float eps = p.eps != 0 ? f32(p.eps).v[j] : 0.0;
        float c = p.cs * (ey - e_n), d = p.ds * (e_n - p.dsub * eps);
        g = p.k * w * (lambda * c + (1.0 - lambda) * d);
    } else {
        float e = (p.cfg_plus_one != 0 ? ey : e_n) + p.scale * (ey - e_n);
        g = p.w * (e - f32(p.other).v[j]);
    }
    if (p.clip > 0.0 && !isnan(g)) g = clamp(g, -p.clip, p.clip);
    f32(p.g).v[j] = g;
}
