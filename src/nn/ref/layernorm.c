#include "vkdream/nn/layernorm.h"

#include <math.h>

void vkd_ref_layernorm_forward(double* out, double* mean, double* rstd, const double* inp, const double* weight,
                               const double* bias, uint64_t N, uint64_t C, double eps) {
    for (uint64_t r = 0; r < N; r++) {
        const double* x = inp + r * C;
        double m = 0;
        for (uint64_t c = 0; c < C; c++) m += x[c];
        m /= (double)C;
        double v = 0;
        for (uint64_t c = 0; c < C; c++) v += (x[c] - m) * (x[c] - m);
        v /= (double)C;
        double rs = 1.0 / sqrt(v + eps);
        for (uint64_t c = 0; c < C; c++) {
            double y = (x[c] - m) * rs;
            if (weight) y *= weight[c];
            if (bias) y += bias[c];
            out[r * C + c] = y;
        }
        mean[r] = m;
        rstd[r] = rs;
    }
}

void vkd_ref_layernorm_backward(double* dinp, double* dweight, double* dbias, const double* dout, const double* inp,
                                const double* weight, const double* mean, const double* rstd, uint64_t N, uint64_t C) {
    for (uint64_t r = 0; r < N; r++) {
        const double* x = inp + r * C;
        const double* dy = dout + r * C;
        double a = 0, b = 0;
        for (uint64_t c = 0; c < C; c++) {
            double xhat = (x[c] - mean[r]) * rstd[r];
            double g = dy[c] * (weight ? weight[c] : 1.0);
            a += g;
            b += g * xhat;
            if (dweight) dweight[c] += dy[c] * xhat;
            if (dbias) dbias[c] += dy[c];
        }
        a /= (double)C;
        b /= (double)C;
        if (!dinp) continue;
        for (uint64_t c = 0; c < C; c++) {
            double xhat = (x[c] - mean[r]) * rstd[r];
            double g = dy[c] * (weight ? weight[c] : 1.0);
            dinp[r * C + c] += rstd[r] * (g - a - xhat * b);
        }
    }
}
