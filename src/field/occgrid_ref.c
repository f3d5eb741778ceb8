// Occupancy grid: plain C reference (float64 values; the random choices use the GPU's hash).
#include "vkdream/volrend.h"
#include "field/occgrid.h"

#include <stdlib.h>

uint32_t vkd_ref_occgrid_sample(double* positions, uint32_t* cells, const uint32_t* bits, uint32_t res,
                                double radius, bool all_cells, uint32_t seed) {
    if (!(radius > 0)) radius = 1.0;
    uint32_t n = res * res * res;
    uint32_t count = all_cells ? n : 2 * (n / 4), q = n / 4;
    uint32_t* list = NULL;
    uint32_t occupied = 0;
    if (!all_cells) {
        list = malloc((size_t)(n ? n : 1) * sizeof *list);
        for (uint32_t c = 0; c < n; c++)
            if ((bits[c >> 5] >> (c & 31)) & 1u) list[occupied++] = c;
    }
    double cell_size = 2.0 * (double)(float)radius / res;
    for (uint32_t k = 0; k < count; k++) {
        uint32_t cell;
        if (all_cells) cell = k;
        else if (k < q) cell = volrend_hash2(seed, k) % n;
        else if (occupied <= q) cell = k - q < occupied ? list[k - q] : OCCGRID_NO_CELL;
        else cell = list[volrend_hash2(seed ^ 0x5bd1e995u, k - q) % occupied];
        cells[k] = cell;
        double* p = positions + 3 * (size_t)k;
        if (cell == OCCGRID_NO_CELL) {
            p[0] = p[1] = p[2] = 0;
            continue;
        }
        uint32_t xyz[3] = {cell / (res * res), (cell / res) % res, cell % res};
        uint32_t s = seed ^ 0x68bc21ebu;
        for (int i = 0; i < 3; i++) {
            double u = (double)(volrend_hash2(s, 3u * k + (uint32_t)i) >> 8) / 16777216.0;
            p[i] = (xyz[i] + u) * cell_size - (float)radius;
        }
    }
    free(list);
    return count;
}

void vkd_ref_occgrid_update(double* density, uint32_t* bits, const uint32_t* cells, const double* samples,
                            uint32_t count, uint32_t res, const vkd_occgrid_update_desc* desc) {
    double decay = desc && desc->decay > 0 ? desc->decay : (double)0.95f;
    double threshold = desc && desc->threshold > 0 ? desc->threshold : (double)0.01f;
    double occ_scale = desc && desc->occ_scale > 0 ? desc->occ_scale : 1.0;
    uint32_t n = res * res * res;
    double* cell_max = malloc((size_t)(n ? n : 1) * sizeof *cell_max);
    for (uint32_t c = 0; c < n; c++) cell_max[c] = -1;  // untouched
    for (uint32_t k = 0; k < count; k++) {
        if (cells[k] == OCCGRID_NO_CELL) continue;
        double v = samples[k] * occ_scale;
        if (!(v > 0)) v = 0;
        if (v > cell_max[cells[k]]) cell_max[cells[k]] = v;
    }
    double sum = 0;
    for (uint32_t c = 0; c < n; c++) {
        if (cell_max[c] >= 0) {
            double d = density[c] * decay;
            density[c] = d > cell_max[c] ? d : cell_max[c];
        }
        sum += density[c];
    }
    double mean = sum / n, thre = mean < threshold ? mean : threshold;
    for (uint32_t w = 0; w < (n + 31) / 32; w++) bits[w] = 0;
    for (uint32_t c = 0; c < n; c++)
        if (density[c] > thre) bits[c >> 5] |= 1u << (c & 31);
    free(cell_max);
}
