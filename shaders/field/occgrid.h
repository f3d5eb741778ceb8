// Occupancy grid kernels (instant-ngp / nerfacc style): push constants shared by C
// (src/field/occgrid*.c) and GLSL (shaders/field/occgrid_*.comp).
// Cell (x, y, z) of a res^3 grid over [-R, R]^3 has the linear index (x * res + y) * res + z
// (a C-ordered (res, res, res) array, as nerfacc stores it); bit i of the bitfield is bit
// i % 32 of word i / 32.
#ifndef VKD_SHADERS_FIELD_OCCGRID_H
#define VKD_SHADERS_FIELD_OCCGRID_H
#include "field/volrend.h"

// Cell index of a sample that is not evaluated (the occupied half of a post-warm-up update
// when fewer cells are occupied than it has room for).
#define OCCGRID_NO_CELL 0xffffffffu
#define OCCGRID_WG 256

// Per bitfield word: the number of set bits (for the scan that lists the occupied cells).
// Then, with the scan: the occupied cells' indices, in increasing order.
VKD_PUSH_BEGIN(vkd_occgrid_list_push)
    uint64_t bits;      // (words,)
    uint64_t offsets;   // popcount: (words,) out; list: (words + 1,) exclusive scan
    uint64_t list;      // (cells,) out: occupied cell indices
    uint32_t words;
    uint32_t cells;
VKD_PUSH_END(vkd_occgrid_list_push)

VKD_PUSH_BEGIN(vkd_occgrid_sample_push)
    uint64_t positions; // (count, 3) out
    uint64_t cell_ids;  // (count,) u32 out
    uint64_t offsets;   // (words + 1,): [words] is the number of occupied cells
    uint64_t list;      // occupied cell indices
    uint32_t count;
    uint32_t all_cells; // 1: sample k is cell k (warm-up)
    uint32_t res;
    uint32_t cells;
    uint32_t words;
    uint32_t seed;
    float radius;
    float cell_size;    // 2 radius / res
VKD_PUSH_END(vkd_occgrid_sample_push)

// scatter: cell_max[cell] = max(cell_max[cell], bits(max(occ_scale * density, 0)) + 1) (0 = untouched);
// ema: density[c] = max(density[c] * decay, value) for touched cells, and cell_max[c] = 0 again;
// mean: thre[0] = min(mean(density), threshold); bits: density > thre.
VKD_PUSH_BEGIN(vkd_occgrid_update_push)
    uint64_t density;   // (cells,) EMA
    uint64_t bits;      // (words,)
    uint64_t cell_ids;  // (count,) u32
    uint64_t samples;   // (count,) density at the sampled positions
    uint64_t cell_max;  // (cells,) u32 scratch
    uint64_t thre;      // (1,) scratch
    uint32_t count;
    uint32_t cells;
    uint32_t words;
    float decay;
    float threshold;
    float occ_scale;
VKD_PUSH_END(vkd_occgrid_update_push)

#endif
