#include "vkdream/nn/reduce.h"

#include <math.h>

void vkd_ref_sum_forward(double* out, const double* inp, uint64_t n, bool accumulate) {
    double s = 0;
    for (uint64_t i = 0; i < n; i++) s += inp[i];
    *out = (accumulate ? *out : 0.0) + s;
}

void vkd_ref_sum_backward(double* dinp, const double* dout, uint64_t n) {
    for (uint64_t i = 0; i < n; i++) dinp[i] += dout[0];
}

void vkd_ref_mean_forward(double* out, const double* inp, uint64_t n, bool accumulate) {
    double s = 0;
    for (uint64_t i = 0; i < n; i++) s += inp[i];
    *out = (accumulate ? *out : 0.0) + (n ? s / (double)n : NAN);
}

void vkd_ref_mean_backward(double* dinp, const double* dout, uint64_t n) {
    for (uint64_t i = 0; i < n; i++) dinp[i] += dout[0] / (double)n;
}

void vkd_ref_sum_rows_forward(double* out, const double* inp, uint64_t N, uint64_t C, bool accumulate) {
    for (uint64_t c = 0; c < C; c++) {
        double s = 0;
        for (uint64_t r = 0; r < N; r++) s += inp[r * C + c];
        out[c] = (accumulate ? out[c] : 0.0) + s;
    }
}

void vkd_ref_sum_rows_backward(double* dinp, const double* dout, uint64_t N, uint64_t C) {
    for (uint64_t r = 0; r < N; r++)
        for (uint64_t c = 0; c < C; c++) dinp[r * C + c] += dout[c];
}

void vkd_ref_mse_loss_forward(double* loss, const double* a, const double* b, uint64_t n) {
    double s = 0;
    for (uint64_t i = 0; i < n; i++) s += (a[i] - b[i]) * (a[i] - b[i]);
    *loss = n ? s / (double)n : NAN;
}

void vkd_ref_mse_loss_backward(double* da, double* db, const double* dloss, const double* a, const double* b,
                               uint64_t n) {
    for (uint64_t i = 0; i < n; i++) {
        double g = 2.0 * (a[i] - b[i]) / (double)n * dloss[0];
        if (da) da[i] += g;
        if (db) db[i] -= g;
    }
}
