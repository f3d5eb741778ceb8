#version 450
#extension GL_GOOGLE_include_directive : require
#include "common.glsl"
#include "field/volrend.h"
layout(local_size_x = 256) in;
layout(push_constant) uniform Push { vkd_volrend_normals_push p; };

// n = -g / |g|: dL/dg = -(dn - n (n . dn)) / |g|; below eps, n = -g / eps: dL/dg = -dn / eps.
void main() {
    uint i = vkd_global_id();
    if (i >= p.n) return;
    f32 G = f32(p.grad), DN = f32(p.d_nrm), DG = f32(p.dst);
    vec3 g = vec3(G.v[3 * i], G.v[3 * i + 1], G.v[3 * i + 2]);
    vec3 dn = vec3(DN.v[3 * i], DN.v[3 * i + 1], DN.v[3 * i + 2]);
    float len = length(g);
    vec3 dg;
    if (len > p.eps) {
        vec3 n = -g / len;
        dg = -(dn - n * dot(n, dn)) / len;
    } else {
        dg = -dn / p.eps;
    }
    DG.v[3 * i] += dg.x;
    DG.v[3 * i + 1] += dg.y;
    DG.v[3 * i + 2] += dg.z;
}
