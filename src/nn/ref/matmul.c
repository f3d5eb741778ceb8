// Float64 reference of the batched GEMM: the definition, written as directly as possible.
#include "vkdream/nn/matmul.h"

#include <stdio.h>


static int64_t off(const vkd_matmul_desc* r, int64_t z, int64_t s, int64_t s2) {
    return (z / r->batch) * s2 + (z % r->batch) * s;
}
static int64_t ia(const vkd_matmul_desc* r, int64_t m, int64_t k) {
    return r->trans_a ? k * r->lda + m : m * r->lda + k;
}
static int64_t ib(const vkd_matmul_desc* r, int64_t k, int64_t n) {
    return r->trans_b ? n * r->ldb + k : k * r->ldb + n;
}

void vkd_ref_matmul_forward(double* c, const double* a, const double* b, const double* bias,
                            const vkd_matmul_desc* d) {
    vkd_matmul_desc r;
    char why[256];
    if (!vkd_matmul_resolve(d, &r, "ref_matmul_forward", why, sizeof why)) {
        fprintf(stderr, "%s\n", why);
        return;
    }
    for (int64_t z = 0; z < (int64_t)r.batch * r.batch_outer; z++) {
        const double* az = a + off(&r, z, r.stride_a, r.stride_a_outer);
        const double* bz = b + off(&r, z, r.stride_b, r.stride_b_outer);
        double* cz = c + off(&r, z, r.stride_c, r.stride_c_outer);
        for (int64_t m = 0; m < r.M; m++) {
            for (int64_t n = 0; n < r.N; n++) {
                double sum = 0.0;
                for (int64_t k = 0; k < r.K; k++) sum += az[ia(&r, m, k)] * bz[ib(&r, k, n)];
                double v = (double)r.alpha * sum;
                if (r.beta != 0.0f) v += (double)r.beta * cz[m * r.ldc + n];
                if (bias) v += bias[r.bias_rows ? m : n];
                cz[m * r.ldc + n] = v;
            }
        }
    }
}

void vkd_ref_matmul_backward(double* da, double* db, double* dbias, const double* dc, const double* a,
                             const double* b, const vkd_matmul_desc* d) {
    vkd_matmul_desc r;
    char why[256];
    if (!vkd_matmul_resolve(d, &r, "ref_matmul_backward", why, sizeof why)) {
        fprintf(stderr, "%s\n", why);
        return;
    }
    for (int64_t z = 0; z < (int64_t)r.batch * r.batch_outer; z++) {
        int64_t oa = off(&r, z, r.stride_a, r.stride_a_outer), ob = off(&r, z, r.stride_b, r.stride_b_outer);
        const double* dcz = dc + off(&r, z, r.stride_c, r.stride_c_outer);
        for (int64_t m = 0; m < r.M; m++) {
            for (int64_t n = 0; n < r.N; n++) {
                double g = dcz[m * r.ldc + n];
                if (dbias) dbias[r.bias_rows ? m : n] += g;
                double ga = (double)r.alpha * g;
                for (int64_t k = 0; k < r.K; k++) {
                    // Broadcast operands have stride 0, so every batch entry adds into the same gradient.
                    if (da) da[oa + ia(&r, m, k)] += ga * b[ob + ib(&r, k, n)];
                    if (db) db[ob + ib(&r, k, n)] += ga * a[oa + ia(&r, m, k)];
                }
            }
        }
    }
}
