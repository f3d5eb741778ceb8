#include "vkdream/nn/timestep.h"

#include <math.h>

void vkd_ref_timestep_embedding_forward(double* out, const double* timesteps, uint64_t n, uint64_t dim,
                                        const vkd_timestep_desc* desc) {
    vkd_timestep_desc d = desc ? *desc : (vkd_timestep_desc){0};
    double period = d.max_period != 0 ? d.max_period : 10000.0;
    double scale = d.scale != 0 ? d.scale : 1.0;
    uint64_t half = dim / 2;
    double divisor = (double)half - d.downscale_freq_shift;
    for (uint64_t i = 0; i < n; i++) {
        double* row = out + i * dim;
        for (uint64_t k = 0; k < half; k++) {
            double arg = scale * timesteps[i] * exp(-log(period) * (double)k / divisor);
            double sn = sin(arg), cs = cos(arg);
            row[k] = d.flip_sin_to_cos ? cs : sn;
            row[half + k] = d.flip_sin_to_cos ? sn : cs;
        }
        if (dim % 2) row[dim - 1] = 0.0;
    }
}
