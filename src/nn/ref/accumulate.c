#include "vkdream/nn/accumulate.h"

void vkd_ref_accumulate(double* dst, const double* src, double alpha, uint64_t n) {
    for (uint64_t i = 0; i < n; i++) dst[i] += alpha * src[i];
}
