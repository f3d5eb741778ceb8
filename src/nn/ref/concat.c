// Float64 references of channel concat and slice.
#include "vkdream/nn/concat.h"

#include <stddef.h>

void vkd_ref_concat_forward(double* out, const double* inp1, const double* inp2, uint32_t B, uint32_t C1, uint32_t C2,
                            uint32_t H, uint32_t W) {
    uint64_t HW = (uint64_t)H * W, C = (uint64_t)C1 + C2;
    for (uint64_t b = 0; b < B; b++)
        for (uint64_t c = 0; c < C; c++)
            for (uint64_t i = 0; i < HW; i++)
                out[(b * C + c) * HW + i] = c < C1 ? inp1[(b * C1 + c) * HW + i] : inp2[(b * C2 + c - C1) * HW + i];
}

void vkd_ref_concat_backward(double* dinp1, double* dinp2, const double* dout, uint32_t B, uint32_t C1, uint32_t C2,
                             uint32_t H, uint32_t W) {
    uint64_t HW = (uint64_t)H * W, C = (uint64_t)C1 + C2;
    for (uint64_t b = 0; b < B; b++)
        for (uint64_t c = 0; c < C; c++)
            for (uint64_t i = 0; i < HW; i++) {
                double g = dout[(b * C + c) * HW + i];
                if (c < C1 && dinp1) dinp1[(b * C1 + c) * HW + i] += g;
                if (c >= C1 && dinp2) dinp2[(b * C2 + c - C1) * HW + i] += g;
            }
}

void vkd_ref_slice_forward(double* out, const double* inp, uint32_t B, uint32_t C, uint32_t H, uint32_t W,
                           uint32_t c0, uint32_t count) {
    uint64_t HW = (uint64_t)H * W;
    for (uint64_t b = 0; b < B; b++)
        for (uint64_t c = 0; c < count; c++)
            for (uint64_t i = 0; i < HW; i++) out[(b * count + c) * HW + i] = inp[(b * C + c0 + c) * HW + i];
}

void vkd_ref_slice_backward(double* dinp, const double* dout, uint32_t B, uint32_t C, uint32_t H, uint32_t W,
                            uint32_t c0, uint32_t count) {
    uint64_t HW = (uint64_t)H * W;
    for (uint64_t b = 0; b < B; b++)
        for (uint64_t c = 0; c < count; c++)
            for (uint64_t i = 0; i < HW; i++) dinp[(b * C + c0 + c) * HW + i] += dout[(b * count + c) * HW + i];
}
