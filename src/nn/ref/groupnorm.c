#include "vkdream/nn/groupnorm.h"

#include <math.h>

static double sigmoid(double y) { return 1.0 / (1.0 + exp(-y)); }

void vkd_ref_groupnorm_forward(double* out, double* mean, double* rstd, const double* inp, const double* weight,
                               const double* bias, uint32_t B, uint32_t C, uint32_t H, uint32_t W, uint32_t G,
                               double eps, bool silu) {
    const uint64_t HW = (uint64_t)H * W, cg = C / G, n = cg * HW;
    for (uint64_t bg = 0; bg < (uint64_t)B * G; bg++) {
        const double* x = inp + bg * n;
        double m = 0;
        for (uint64_t i = 0; i < n; i++) m += x[i];
        m /= (double)n;
        double v = 0;
        for (uint64_t i = 0; i < n; i++) v += (x[i] - m) * (x[i] - m);
        v /= (double)n;
        double rs = 1.0 / sqrt(v + eps);
        mean[bg] = m;
        rstd[bg] = rs;
        for (uint64_t i = 0; i < n; i++) {
            uint64_t c = (bg % G) * cg + i / HW;
            double y = (x[i] - m) * rs * (weight ? weight[c] : 1.0) + (bias ? bias[c] : 0.0);
            out[bg * n + i] = silu ? y * sigmoid(y) : y;
        }
    }
}

void vkd_ref_groupnorm_backward(double* dinp, double* dweight, double* dbias, const double* dout, const double* inp,
                                const double* weight, const double* bias, const double* mean, const double* rstd,
                                uint32_t B, uint32_t C, uint32_t H, uint32_t W, uint32_t G, bool silu) {
    const uint64_t HW = (uint64_t)H * W, cg = C / G, n = cg * HW;
    for (uint64_t bg = 0; bg < (uint64_t)B * G; bg++) {
        const double* x = inp + bg * n;
        const double* dz = dout + bg * n;
        double m1 = 0, m2 = 0;  // means over the group of dxhat and dxhat * xhat
        for (int pass = 0; pass < 2; pass++) {
            for (uint64_t i = 0; i < n; i++) {
                uint64_t c = (bg % G) * cg + i / HW;
                double w = weight ? weight[c] : 1.0;
                double xhat = (x[i] - mean[bg]) * rstd[bg];
                double dy = dz[i];
                if (silu) {
                    double y = xhat * w + (bias ? bias[c] : 0.0), sg = sigmoid(y);
                    dy *= sg * (1.0 + y * (1.0 - sg));
                }
                if (pass == 0) {
                    m1 += dy * w;
                    m2 += dy * w * xhat;
                    if (dweight) dweight[c] += dy * xhat;
                    if (dbias) dbias[c] += dy;
                } else if (dinp) {
                    dinp[bg * n + i] += rstd[bg] * (dy * w - m1 - xhat * m2);
                }
            }
            if (pass == 0) m1 /= (double)n, m2 /= (double)n;
        }
    }
}
