// Float64 reference of the hash encoding (vkdream/hashgrid.h). The level geometry (scales, sizes,
// offsets) is the float32 one the GPU uses; everything else is float64.
#include "vkdream/hashgrid.h"

#include <math.h>

typedef struct ref_level {
    vkd_hashgrid_level lv;
    uint32_t cell[3];
    double t[3];
} ref_level;

static void ref_cell(ref_level* r, const vkd_hashgrid_desc* d, const double* x) {
    for (int k = 0; k < 3; k++) {
        double u = x[k] * d->input_scale + d->input_offset;
        double pf = (double)r->lv.scale * u + 0.5;
        double fl = floor(pf);
        r->t[k] = pf - fl;
        r->cell[k] = (uint32_t)(int64_t)fl;
    }
}

static uint64_t ref_entry(const ref_level* r, uint32_t c, uint32_t features) {
    uint32_t x = r->cell[0] + (c & 1), y = r->cell[1] + ((c >> 1) & 1), z = r->cell[2] + ((c >> 2) & 1);
    uint32_t res = r->lv.resolution;
    uint32_t i = r->lv.hashed ? (x ^ (y * 2654435761u) ^ (z * 805459861u)) : (x + y * res + z * (res * res));
    return (r->lv.offset + i % r->lv.size) * features;
}

static double ref_weight(uint32_t c, const double* t, double* grad) {
    double w[3], sgn[3];
    for (int k = 0; k < 3; k++) {
        bool hi = (c >> k) & 1;
        w[k] = hi ? t[k] : 1 - t[k];
        sgn[k] = hi ? 1 : -1;
    }
    if (grad) {
        grad[0] = sgn[0] * w[1] * w[2];
        grad[1] = sgn[1] * w[0] * w[2];
        grad[2] = sgn[2] * w[0] * w[1];
    }
    return w[0] * w[1] * w[2];
}

void vkd_ref_hashgrid_forward(double* out, const double* positions, const double* table, uint64_t n,
                              const vkd_hashgrid_desc* desc) {
    vkd_hashgrid_desc d;
    vkd_hashgrid_resolve(desc, &d, NULL);
    uint32_t F = d.features, width = d.levels * F;
    for (uint32_t l = 0; l < d.levels; l++) {
        ref_level r = {.lv = vkd_hashgrid_level_info(&d, l)};
        for (uint64_t i = 0; i < n; i++) {
            double* o = out + i * width + l * F;
            for (uint32_t f = 0; f < F; f++) o[f] = 0;
            if (l >= d.active_levels) continue;
            ref_cell(&r, &d, positions + 3 * i);
            for (uint32_t c = 0; c < 8; c++) {
                double w = ref_weight(c, r.t, NULL);
                uint64_t e = ref_entry(&r, c, F);
                for (uint32_t f = 0; f < F; f++) o[f] += w * table[e + f];
            }
        }
    }
}

void vkd_ref_hashgrid_backward(double* d_positions, double* d_table, const double* dout, const double* positions,
                               const double* table, uint64_t n, const vkd_hashgrid_desc* desc) {
    vkd_hashgrid_desc d;
    vkd_hashgrid_resolve(desc, &d, NULL);
    uint32_t F = d.features, width = d.levels * F;
    for (uint32_t l = 0; l < d.active_levels; l++) {
        ref_level r = {.lv = vkd_hashgrid_level_info(&d, l)};
        for (uint64_t i = 0; i < n; i++) {
            const double* g = dout + i * width + l * F;
            ref_cell(&r, &d, positions + 3 * i);
            double dt[3] = {0, 0, 0};
            for (uint32_t c = 0; c < 8; c++) {
                double wg[3];
                double w = ref_weight(c, r.t, wg);
                uint64_t e = ref_entry(&r, c, F);
                double v = 0;
                for (uint32_t f = 0; f < F; f++) {
                    if (d_table) d_table[e + f] += w * g[f];
                    if (d_positions) v += g[f] * table[e + f];
                }
                for (int k = 0; k < 3; k++) dt[k] += v * wg[k];
            }
            if (d_positions)
                for (int k = 0; k < 3; k++) d_positions[3 * i + k] += (double)r.lv.scale * d.input_scale * dt[k];
        }
    }
}
