#version 450
#extension GL_GOOGLE_include_directive : require
#include "common.glsl"
#include "field/occgrid.h"
layout(local_size_x = OCCGRID_WG) in;
layout(push_constant) uniform Push { vkd_occgrid_sample_push p; };

// nerfacc's choice of cells: every cell during warm-up; afterwards cells/4 uniformly random
// cells, then cells/4 random occupied cells (all occupied cells, in order, when there are
// no more than that). Positions are uniform inside the cell.
void main() {
    uint k = vkd_global_id();
    if (k >= p.count) return;
    uint cell;
    if (p.all_cells != 0u) {
        cell = k;
    } else {
        uint q = p.cells >> 2;
        if (k < q) {
            cell = volrend_hash2(p.seed, k) % p.cells;
        } else {
            uint j = k - q;
            uint occupied = u32(p.offsets).v[p.words];
            if (occupied <= q) cell = j < occupied ? u32(p.list).v[j] : OCCGRID_NO_CELL;
            else cell = u32(p.list).v[volrend_hash2(p.seed ^ 0x5bd1e995u, j) % occupied];
        }
    }
    u32(p.cell_ids).v[k] = cell;
    vec3 pos = vec3(0.0);
    if (cell != OCCGRID_NO_CELL) {
        uint x = cell / (p.res * p.res), y = (cell / p.res) % p.res, z = cell % p.res;
        uint s = p.seed ^ 0x68bc21ebu;
        vec3 u = vec3(float(volrend_hash2(s, 3u * k) >> 8), float(volrend_hash2(s, 3u * k + 1u) >> 8),
                      float(volrend_hash2(s, 3u * k + 2u) >> 8)) * (1.0 / 16777216.0);
        pos = (vec3(x, y, z) + u) * p.cell_size - p.radius;
    }
    f32 P = f32(p.positions);
    P.v[3 * k] = pos.x;
    P.v[3 * k + 1] = pos.y;
    P.v[3 * k + 2] = pos.z;
}
