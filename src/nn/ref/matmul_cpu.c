// Float32 CPU matmul for `vkdream bench`: what a careful plain-C implementation reaches
// (cache blocking + a 4-row register block + a unit-stride inner loop the compiler can
// vectorize), single-threaded, no intrinsics. Not used by the engine itself.
#include "vkdream/nn/matmul.h"

#include <string.h>

enum { NB = 256, KB = 128 };  // a KB x NB panel of b (128 KiB) stays in L2

void vkd_cpu_matmul_f32(float* c, const float* a, const float* b, int M, int N, int K) {
    memset(c, 0, (size_t)M * N * sizeof *c);
    for (int n0 = 0; n0 < N; n0 += NB) {
        int n1 = n0 + NB < N ? n0 + NB : N;
        for (int k0 = 0; k0 < K; k0 += KB) {
            int k1 = k0 + KB < K ? k0 + KB : K;
            int m = 0;
            for (; m + 4 <= M; m += 4) {
                float* restrict c0 = c + (size_t)m * N;
                float* restrict c1 = c0 + N;
                float* restrict c2 = c1 + N;
                float* restrict c3 = c2 + N;
                for (int k = k0; k < k1; k++) {
                    const float* restrict bk = b + (size_t)k * N;
                    float a0 = a[(size_t)m * K + k], a1 = a[(size_t)(m + 1) * K + k];
                    float a2 = a[(size_t)(m + 2) * K + k], a3 = a[(size_t)(m + 3) * K + k];
                    for (int n = n0; n < n1; n++) {
                        float bv = bk[n];
                        c0[n] += a0 * bv;
                        c1[n] += a1 * bv;
                        c2[n] += a2 * bv;
                        c3[n] += a3 * bv;
                    }
                }
            }
            for (; m < M; m++) {
                float* restrict cm = c + (size_t)m * N;
                for (int k = k0; k < k1; k++) {
                    const float* restrict bk = b + (size_t)k * N;
                    float am = a[(size_t)m * K + k];
                    for (int n = n0; n < n1; n++) cm[n] += am * bk[n];
                }
            }
        }
    }
}
