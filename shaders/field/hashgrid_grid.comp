#version 450
#extension GL_GOOGLE_include_directive : require
#include "common.glsl"
#include "field/hashgrid.h"

// Vertices of a res^3 grid over [-bound, bound]^3 (x slowest) for density queries.
layout(local_size_x = HASHGRID_WG) in;
layout(push_constant) uniform Push { vkd_hashgrid_grid_push p; };

void main() {
    uint i = vkd_global_id();
    if (i >= p.count) return;
    uint v = p.start + i;
    uvec3 c = uvec3(v / (p.res * p.res), (v / p.res) % p.res, v % p.res);
    vec3 x = -p.bound + vec3(c) * (2.0 * p.bound / float(p.res - 1));
    f32 X = f32(p.positions);
    X.v[3 * i] = x.x;
    X.v[3 * i + 1] = x.y;
    X.v[3 * i + 2] = x.z;
}
