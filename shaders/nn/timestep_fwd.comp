#version 450
#extension GL_GOOGLE_include_directive : require
#include "common.glsl"
#include "nn/timestep.h"
#include "nn/eltwise_math.glsl"
layout(local_size_x = 256) in;
layout(push_constant) uniform Push { vkd_timestep_push p; };

// Each float32 rounding step of diffusers' get_timestep_embedding, in its order:
//   exponent = (-ln P) * k          (float32 product)
//   exponent = exponent / divisor   (float32 division: correctly rounded here, not '/')
//   freq = exp(exponent); arg = t * freq; arg = scale * arg (only when scale != 1)
//   [sin(arg) | cos(arg)] or flipped; a zero column when dim is odd.
// The argument reaches ~1000 for SD's timesteps, so a 1-ULP difference in freq moves
// the result by up to ~3e-5: exp and sin/cos come from eltwise_math.glsl, accurate to
// about an ULP on every device (the built-ins are not, and sin/cos are unspecified
// outside [-pi, pi]).
void main() {
    uint i = vkd_global_id();
    if (i >= p.n * p.dim) return;
    uint row = i / p.dim, j = i - row * p.dim;
    float r = 0.0;
    if (j < 2u * p.half_dim) {
        bool second = j >= p.half_dim;
        uint k = second ? j - p.half_dim : j;
        float e = vkd_div_rn(p.neg_log_period * float(k), p.divisor);
        float arg = f32(p.t).v[row] * vkd_exp(e);
        if (p.scale != 1.0) arg = p.scale * arg;
        vec2 sc = vkd_sincos(arg);
        bool want_cos = second != (p.flip != 0u);
        r = want_cos ? sc.y : sc.x;
    }
    f32(p.dst).v[i] = r;
}
