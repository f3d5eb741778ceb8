#version 450
#extension GL_GOOGLE_include_directive : require
#include "common.glsl"
#include "field/splat.h"
layout(local_size_x = 1) in;
layout(push_constant) uniform Push { vkd_splat_cam_push p; };

void main() {
    f32 c = f32(p.cams);
    uint o = p.view * SPLAT_CAM_FLOATS;
    c.v[o + 0] = p.r00;
    c.v[o + 1] = p.r01;
    c.v[o + 2] = p.r02;
    c.v[o + 3] = p.r10;
    c.v[o + 4] = p.r11;
    c.v[o + 5] = p.r12;
    c.v[o + 6] = p.r20;
    c.v[o + 7] = p.r21;
    c.v[o + 8] = p.r22;
    c.v[o + 9] = p.t0;
    c.v[o + 10] = p.t1;
    c.v[o + 11] = p.t2;
    c.v[o + 12] = p.fx;
    c.v[o + 13] = p.fy;
    c.v[o + 14] = p.cx;
    c.v[o + 15] = p.cy;
    c.v[o + 16] = p.znear;
    c.v[o + 17] = p.zfar;
    c.v[o + 18] = p.px;
    c.v[o + 19] = p.py;
    c.v[o + 20] = p.pz;
    c.v[o + 21] = 0.0;
    c.v[o + 22] = 0.0;
    c.v[o + 23] = 0.0;
}
