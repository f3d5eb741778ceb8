#version 450
#extension GL_GOOGLE_include_directive : require
#include "common.glsl"
#include "field/hashgrid.h"

// One invocation per point looping over the levels: the position is read once, the level's
// branch (dense or hashed) is uniform across the subgroup, and the point's L * F outputs are one
// contiguous row.
layout(local_size_x = HASHGRID_WG) in;
layout(push_constant) uniform Push { vkd_hashgrid_fwd_push p; };
#include "field/hashgrid_level.glsl"

void main() {
    uint i = vkd_global_id();
    if (i >= p.n) return;
    f32 X = f32(p.positions);
    f32 TB = f32(p.table);
    f32 O = f32(p.dst);
    vec3 u = vec3(X.v[3 * i], X.v[3 * i + 1], X.v[3 * i + 2]) * p.input_scale + p.input_offset;
    uint table_size = 1u << p.log2_table;
    uint row = i * p.levels * F;
    precise float s = float(p.base_resolution);
    uint offset = 0;
    for (uint l = 0; l < p.levels; l++) {
        hg_level lv = hg_make_level(s, offset, table_size);
        float acc[F];
        for (uint f = 0; f < F; f++) acc[f] = 0.0;
        if (l < p.active_levels) {
            uvec3 cell;
            vec3 t;
            hg_cell(lv, u, cell, t);
            for (uint c = 0; c < 8; c++) {
                float w = hg_weight(c, t);
                uint e = hg_entry(lv, cell + uvec3(c & 1u, (c >> 1) & 1u, (c >> 2) & 1u));
                if (HG_PAIRS) {
                    for (uint f = 0; f < F; f += 2) {
                        vec2 v = hg_pair(p.table, e + f);
                        acc[f] = fma(w, v.x, acc[f]);
                        acc[f + 1] = fma(w, v.y, acc[f + 1]);
                    }
                } else {
                    for (uint f = 0; f < F; f++) acc[f] = fma(w, TB.v[e + f], acc[f]);
                }
            }
        }
        if (HG_PAIRS) {
            for (uint f = 0; f < F; f += 2)
                hg_u64(p.dst).v[(row + l * F + f) / 2u] =
                    packUint2x32(uvec2(floatBitsToUint(acc[f]), floatBitsToUint(acc[f + 1])));
        } else {
            for (uint f = 0; f < F; f++) O.v[row + l * F + f] = acc[f];
        }
        offset += lv.size;
        s = s * p.per_level_scale;
    }
}
