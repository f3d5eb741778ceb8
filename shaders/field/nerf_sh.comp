#version 450
#extension GL_GOOGLE_include_directive : require
#include "common.glsl"
#include "field/nerf.h"
layout(local_size_x = NERF_WG) in;
layout(push_constant) uniform Push { vkd_nerf_sh_push p; };

// tiny-cuda-nn's SphericalHarmonics (degree 3) of (d + 1) / 2, i.e. of d itself.
void main() {
    uint i = vkd_global_id();
    if (i >= p.n) return;
    f32 D = f32(p.dirs), O = f32(p.dst);
    float x = D.v[3 * i], y = D.v[3 * i + 1], z = D.v[3 * i + 2];
    uint o = 9 * i;
    O.v[o] = 0.28209479177387814;
    O.v[o + 1] = -0.48860251190291987 * y;
    O.v[o + 2] = 0.48860251190291987 * z;
    O.v[o + 3] = -0.48860251190291987 * x;
    O.v[o + 4] = 1.0925484305920792 * x * y;
    O.v[o + 5] = -1.0925484305920792 * y * z;
    O.v[o + 6] = 0.94617469575755997 * z * z - 0.31539156525251999;
    O.v[o + 7] = -1.0925484305920792 * x * z;
    O.v[o + 8] = 0.54627421529603959 * x * x - 0.54627421529603959 * y * y;
}
