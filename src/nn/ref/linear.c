// Float64 reference of the linear layer, written out directly.
#include "vkdream/nn/linear.h"

void vkd_ref_linear_forward(double* out, const double* inp, const double* weight, const double* bias, uint32_t N,
                            uint32_t C, uint32_t OC) {
    for (uint64_t n = 0; n < N; n++) {
        for (uint64_t o = 0; o < OC; o++) {
            double s = bias ? bias[o] : 0.0;
            for (uint64_t c = 0; c < C; c++) s += inp[n * C + c] * weight[o * C + c];
            out[n * OC + o] = s;
        }
    }
}

void vkd_ref_linear_backward(double* dinp, double* dweight, double* dbias, const double* dout, const double* inp,
                             const double* weight, uint32_t N, uint32_t C, uint32_t OC) {
    for (uint64_t n = 0; n < N; n++) {
        for (uint64_t o = 0; o < OC; o++) {
            double g = dout[n * OC + o];
            if (dbias) dbias[o] += g;
            for (uint64_t c = 0; c < C; c++) {
                if (dinp) dinp[n * C + c] += g * weight[o * C + c];
                if (dweight) dweight[o * C + c] += g * inp[n * C + c];
            }
        }
    }
}
