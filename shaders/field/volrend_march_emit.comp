#version 450
#extension GL_GOOGLE_include_directive : require
#include "common.glsl"
#include "field/volrend.h"
#include "field/volrend_march.glsl"

void main() {
    uint r = vkd_global_id();
    if (r >= p.rays) return;
    march(r, true, u32(p.offsets).v[r]);
}
