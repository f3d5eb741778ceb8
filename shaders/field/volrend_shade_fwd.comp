#version 450
#extension GL_GOOGLE_include_directive : require
#include "common.glsl"
#include "field/volrend.h"
#include "field/volrend_shade.glsl"

void main() {
    uint i = vkd_global_id();
    if (i >= p.n) return;
    vec3 c;
    if (p.mode == VOLREND_SHADE_ALBEDO) {
        c = shade_load3(p.albedo, i);
    } else {
        float s = max(dot(shade_load3(p.nrm, i), shade_light_dir(i)), 0.0);
        vec3 light = vec3(p.amb_r, p.amb_g, p.amb_b) + vec3(p.dif_r, p.dif_g, p.dif_b) * s;
        c = p.mode == VOLREND_SHADE_LAMBERTIAN ? shade_load3(p.albedo, i) * light : light;
    }
    f32 C = f32(p.color);
    C.v[3 * i] = c.x;
    C.v[3 * i + 1] = c.y;
    C.v[3 * i + 2] = c.z;
}
