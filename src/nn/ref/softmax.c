#include "vkdream/nn/softmax.h"

#include <math.h>

void vkd_ref_softmax_forward(double* out, const double* inp, uint64_t N, uint64_t C, double scale, bool causal) {
    for (uint64_t r = 0; r < N; r++) {
        const double* x = inp + r * C;
        double* y = out + r * C;
        uint64_t live = causal ? (r % C) + 1 : C;
        double m = -INFINITY;
        for (uint64_t c = 0; c < live; c++) m = fmax(m, scale * x[c]);
        double sum = 0;
        for (uint64_t c = 0; c < live; c++) sum += exp(scale * x[c] - m);
        for (uint64_t c = 0; c < C; c++) y[c] = c < live ? exp(scale * x[c] - m) / sum : 0.0;
    }
}

void vkd_ref_softmax_backward(double* dinp, const double* dout, const double* out, uint64_t N, uint64_t C,
                              double scale) {
    for (uint64_t r = 0; r < N; r++) {
        const double* y = out + r * C;
        const double* dy = dout + r * C;
        double dot = 0;
        for (uint64_t c = 0; c < C; c++) dot += dy[c] * y[c];
        for (uint64_t c = 0; c < C; c++) dinp[r * C + c] += scale * y[c] * (dy[c] - dot);
    }
}
