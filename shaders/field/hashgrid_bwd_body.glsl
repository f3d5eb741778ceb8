// Backward of the hash encoding (included by hashgrid_bwd.comp and hashgrid_bwd_cas.comp, which
// define hg_atomic_add): d_table scatter and d_positions through the trilinear weights. Which of
// the two is computed is specialized (constants 1 and 2), so each variant is a straight loop.
layout(local_size_x = HASHGRID_WG) in;
layout(push_constant) uniform Push { vkd_hashgrid_bwd_push p; };
#include "field/hashgrid_level.glsl"
layout(constant_id = 1) const bool DO_TABLE = true;
layout(constant_id = 2) const bool DO_POS = false;

void main() {
    uint i = vkd_global_id();
    if (i >= p.n) return;
    f32 X = f32(p.positions);
    f32 TB = f32(p.table);
    f32 G = f32(p.dout);
    vec3 u = vec3(X.v[3 * i], X.v[3 * i + 1], X.v[3 * i + 2]) * p.input_scale + p.input_offset;
    uint table_size = 1u << p.log2_table;
    uint row = i * p.levels * F;
    uint levels = min(p.levels, p.active_levels);
    vec3 du = vec3(0);
    precise float s = float(p.base_resolution);
    uint offset = 0;
    for (uint l = 0; l < levels; l++) {
        hg_level lv = hg_make_level(s, offset, table_size);
        offset += lv.size;
        s = s * p.per_level_scale;
        float g[F];
        if (HG_PAIRS) {
            for (uint f = 0; f < F; f += 2) {
                vec2 v = hg_pair(p.dout, row + l * F + f);
                g[f] = v.x;
                g[f + 1] = v.y;
            }
        } else {
            for (uint f = 0; f < F; f++) g[f] = G.v[row + l * F + f];
        }
        uvec3 cell;
        vec3 t;
        hg_cell(lv, u, cell, t);
        vec3 dt = vec3(0);
        for (uint c = 0; c < 8; c++) {
            uint e = hg_entry(lv, cell + uvec3(c & 1u, (c >> 1) & 1u, (c >> 2) & 1u));
            if (DO_TABLE) {
                float w = hg_weight(c, t);
                for (uint f = 0; f < F; f++) {
                    float v = w * g[f];
                    if (v != 0.0) hg_atomic_add(p.d_table, e + f, v);  // samples without a gradient cost no atomics
                }
            }
            if (DO_POS) {
                float v = 0.0;
                if (HG_PAIRS) {
                    for (uint f = 0; f < F; f += 2) {
                        vec2 tv = hg_pair(p.table, e + f);
                        v = fma(g[f], tv.x, fma(g[f + 1], tv.y, v));
                    }
                } else {
                    for (uint f = 0; f < F; f++) v = fma(g[f], TB.v[e + f], v);
                }
                dt += v * hg_weight_grad(c, t);
            }
        }
        du += lv.scale * dt;
    }
    if (DO_POS) {
        f32 DX = f32(p.d_positions);
        du *= p.input_scale;
        DX.v[3 * i] += du.x;
        DX.v[3 * i + 1] += du.y;
        DX.v[3 * i + 2] += du.z;
    }
}
