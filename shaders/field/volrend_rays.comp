#version 450
#extension GL_GOOGLE_include_directive : require
#include "common.glsl"
#include "field/volrend.h"
layout(local_size_x = 8, local_size_y = 8) in;
layout(push_constant) uniform Push { vkd_volrend_rays_push p; };

// One view per dispatch: the camera rides in the push constants.
void main() {
    uint x = gl_GlobalInvocationID.x, y = gl_GlobalInvocationID.y;
    if (x >= p.width || y >= p.height) return;
    uint r = p.first + y * p.width + x;
    float u = (float(x) + 0.5 - p.cx) / p.fx;
    float v = (float(y) + 0.5 - p.cy) / p.fy;
    // World direction = R^T (u, v, 1); camera center = -R^T t.
    vec3 d = normalize(vec3(p.r00 * u + p.r10 * v + p.r20, p.r01 * u + p.r11 * v + p.r21,
                            p.r02 * u + p.r12 * v + p.r22));
    vec3 o = -vec3(p.r00 * p.t0 + p.r10 * p.t1 + p.r20 * p.t2, p.r01 * p.t0 + p.r11 * p.t1 + p.r21 * p.t2,
                   p.r02 * p.t0 + p.r12 * p.t1 + p.r22 * p.t2);
    // |o + t d|^2 = R^2 with |d| = 1: t = -b -+ sqrt(b^2 - c).
    float b = dot(o, d);
    float c = dot(o, o) - p.radius * p.radius;
    float disc = b * b - c;
    float tn = 0.0, tf = 0.0;
    if (disc > 0.0) {
        float h = sqrt(disc);
        float t1 = -b + h;
        if (t1 > 0.0) {
            tn = max(-b - h, 0.0);
            tf = t1;
        }
    }
    f32 O = f32(p.origins), D = f32(p.dirs), NF = f32(p.near_far);
    O.v[3 * r + 0] = o.x;
    O.v[3 * r + 1] = o.y;
    O.v[3 * r + 2] = o.z;
    D.v[3 * r + 0] = d.x;
    D.v[3 * r + 1] = d.y;
    D.v[3 * r + 2] = d.z;
    NF.v[2 * r + 0] = tn;
    NF.v[2 * r + 1] = tf;
}
