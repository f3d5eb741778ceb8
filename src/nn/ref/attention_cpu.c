// Float32 CPU attention for `vkdream bench`: what a careful plain-C implementation reaches
// (one query row at a time against all keys, unit-stride inner loops over the head dim the
// compiler can vectorize, the row of scores in a buffer), single-threaded, no intrinsics.
// Packed (B, T, H*D) tensors, scale 1/sqrt(D). Not used by the engine itself.
#include "vkdream/nn/attention.h"

#include <math.h>
#include <stdlib.h>

static float dot(const float* restrict a, const float* restrict b, uint32_t n) {
    float s = 0.0f;
    for (uint32_t i = 0; i < n; i++) s += a[i] * b[i];
    return s;
}

static void axpy(float* restrict y, float a, const float* restrict x, uint32_t n) {
    for (uint32_t i = 0; i < n; i++) y[i] += a * x[i];
}

// Scores of query row (b, h, i) into p[0 .. n), n = the number of unmasked keys.
static uint32_t row_scores(float* p, const float* q, const float* k, uint32_t H, uint32_t Tq, uint32_t Tk,
                           uint32_t D, bool causal, uint32_t b, uint32_t h, uint32_t i) {
    const size_t HD = (size_t)H * D;
    const float scale = 1.0f / sqrtf((float)D);
    const float* qi = q + ((size_t)b * Tq + i) * HD + (size_t)h * D;
    const uint32_t n = causal && i + 1 < Tk ? i + 1 : Tk;
    for (uint32_t j = 0; j < n; j++) p[j] = scale * dot(qi, k + ((size_t)b * Tk + j) * HD + (size_t)h * D, D);
    return n;
}

bool vkd_cpu_attention_forward_f32(float* out, float* lse, const float* q, const float* k, const float* v, uint32_t B,
                                   uint32_t H, uint32_t Tq, uint32_t Tk, uint32_t D, bool causal) {
    float* p = malloc((size_t)Tk * sizeof *p);
    if (!p) return false;
    const size_t HD = (size_t)H * D;
    for (uint32_t b = 0; b < B; b++)
        for (uint32_t h = 0; h < H; h++)
            for (uint32_t i = 0; i < Tq; i++) {
                const uint32_t n = row_scores(p, q, k, H, Tq, Tk, D, causal, b, h, i);
                float mx = -INFINITY, sum = 0.0f;
                for (uint32_t j = 0; j < n; j++) mx = p[j] > mx ? p[j] : mx;
                for (uint32_t j = 0; j < n; j++) sum += p[j] = expf(p[j] - mx);
                float* oi = out + ((size_t)b * Tq + i) * HD + (size_t)h * D;
                for (uint32_t d = 0; d < D; d++) oi[d] = 0.0f;
                for (uint32_t j = 0; j < n; j++) axpy(oi, p[j] / sum, v + ((size_t)b * Tk + j) * HD + (size_t)h * D, D);
                lse[((size_t)b * H + h) * Tq + i] = mx + logf(sum);
            }
    free(p);
    return true;
}

bool vkd_cpu_attention_backward_f32(float* dq, float* dk, float* dv, const float* dout, const float* q, const float* k,
                                    const float* v, const float* out, const float* lse, uint32_t B, uint32_t H,
                                    uint32_t Tq, uint32_t Tk, uint32_t D, bool causal) {
    float* p = malloc((size_t)Tk * sizeof *p);
    if (!p) return false;
    const size_t HD = (size_t)H * D;
    const float scale = 1.0f / sqrtf((float)D);
    for (uint32_t b = 0; b < B; b++)
        for (uint32_t h = 0; h < H; h++)
            for (uint32_t i = 0; i < Tq; i++) {
                const size_t qo = ((size_t)b * Tq + i) * HD + (size_t)h * D;
                const uint32_t n = row_scores(p, q, k, H, Tq, Tk, D, causal, b, h, i);
                const float l = lse[((size_t)b * H + h) * Tq + i], delta = dot(dout + qo, out + qo, D);
                for (uint32_t j = 0; j < n; j++) {
                    const size_t ko = ((size_t)b * Tk + j) * HD + (size_t)h * D;
                    const float pj = expf(p[j] - l), ds = pj * (dot(dout + qo, v + ko, D) - delta) * scale;
                    axpy(dv + ko, pj, dout + qo, D);
                    axpy(dq + qo, ds, k + ko, D);
                    axpy(dk + ko, ds, q + qo, D);
                }
            }
    free(p);
    return true;
}
