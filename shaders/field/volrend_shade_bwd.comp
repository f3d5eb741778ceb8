#version 450
#extension GL_GOOGLE_include_directive : require
#include "common.glsl"
#include "field/volrend.h"
#include "field/volrend_shade.glsl"

void main() {
    uint i = vkd_global_id();
    if (i >= p.n) return;
    vec3 dc = shade_load3(p.color, i);
    if (p.mode == VOLREND_SHADE_ALBEDO) {
        if (p.d_albedo != 0) {
            f32 DA = f32(p.d_albedo);
            DA.v[3 * i] += dc.x;
            DA.v[3 * i + 1] += dc.y;
            DA.v[3 * i + 2] += dc.z;
        }
        return;
    }
    vec3 l = shade_light_dir(i);
    float ndl = dot(shade_load3(p.nrm, i), l);
    float s = max(ndl, 0.0);
    vec3 dif = vec3(p.dif_r, p.dif_g, p.dif_b);
    vec3 a = p.mode == VOLREND_SHADE_LAMBERTIAN ? shade_load3(p.albedo, i) : vec3(1.0);
    if (p.mode == VOLREND_SHADE_LAMBERTIAN && p.d_albedo != 0) {
        vec3 da = dc * (vec3(p.amb_r, p.amb_g, p.amb_b) + dif * s);
        f32 DA = f32(p.d_albedo);
        DA.v[3 * i] += da.x;
        DA.v[3 * i + 1] += da.y;
        DA.v[3 * i + 2] += da.z;
    }
    if (p.d_nrm != 0 && ndl > 0.0) {
        vec3 dn = dot(dc, a * dif) * l;
        f32 DN = f32(p.d_nrm);
        DN.v[3 * i] += dn.x;
        DN.v[3 * i + 1] += dn.y;
        DN.v[3 * i + 2] += dn.z;
    }
}
