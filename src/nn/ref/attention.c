// Float64 reference of scaled dot-product attention: the definition, one (batch, head, query
// row) at a time, with the full row of scores materialized.
#include "vkdream/nn/attention.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>

// Offset of element (b, row, h * D) of a (B, T, ld) sequence.
static size_t at(const vkd_attention_desc* r, uint32_t T, uint32_t ld, uint32_t b, uint32_t row, uint32_t h) {
    return ((size_t)b * T + row) * ld + (size_t)h * r->D;
}

static bool masked(const vkd_attention_desc* r, uint32_t i, uint32_t j) { return r->causal && j > i; }

// Scores of query row i against every key: p[j] = scale * q_i . k_j (masked entries unused);
// returns the row max over the unmasked ones.
static double scores(const vkd_attention_desc* r, const double* q, const double* k, uint32_t b, uint32_t h,
                     uint32_t i, double* p) {
    const double* qi = q + at(r, r->Tq, r->ldq, b, i, h);
    double mx = -INFINITY;
    for (uint32_t j = 0; j < r->Tk; j++) {
        if (masked(r, i, j)) continue;
        const double* kj = k + at(r, r->Tk, r->ldk, b, j, h);
        double dot = 0.0;
        for (uint32_t d = 0; d < r->D; d++) dot += qi[d] * kj[d];
        p[j] = (double)r->scale * dot;
        if (p[j] > mx) mx = p[j];
    }
    return mx;
}

static double* row_buffer(const vkd_attention_desc* r) {
    double* p = calloc(r->Tk, sizeof *p);
    if (!p) {
        fprintf(stderr, "ref_attention: out of host memory\n");
        abort();
    }
    return p;
}

void vkd_ref_attention_forward(double* out, double* lse, const double* q, const double* k, const double* v,
                               const vkd_attention_desc* desc) {
    vkd_attention_desc r;
    char why[256];
    if (!vkd_attention_resolve(desc, &r, "ref_attention_forward", why, sizeof why)) {
        fprintf(stderr, "%s\n", why);
        return;
    }
    double* p = row_buffer(&r);
    for (uint32_t b = 0; b < r.B; b++)
        for (uint32_t h = 0; h < r.H; h++)
            for (uint32_t i = 0; i < r.Tq; i++) {
                const double mx = scores(&r, q, k, b, h, i, p);
                double sum = 0.0;
                for (uint32_t j = 0; j < r.Tk; j++) {
                    p[j] = masked(&r, i, j) ? 0.0 : exp(p[j] - mx);
                    sum += p[j];
                }
                double* oi = out + at(&r, r.Tq, r.ldo, b, i, h);
                for (uint32_t d = 0; d < r.D; d++) {
                    double acc = 0.0;
                    for (uint32_t j = 0; j < r.Tk; j++) acc += p[j] * v[at(&r, r.Tk, r.ldv, b, j, h) + d];
                    oi[d] = acc / sum;
                }
                if (lse) lse[((size_t)b * r.H + h) * r.Tq + i] = mx + log(sum);
            }
    free(p);
}

// With P = exp(S - lse), dP = dout V^T, delta = rowsum(dout * out) = rowsum(P * dP):
//   dV += P^T dout,  dS = P * (dP - delta),  dQ += scale * dS K,  dK += scale * dS^T Q.
void vkd_ref_attention_backward(double* dq, double* dk, double* dv, double* delta, const double* dout,
                                const double* q, const double* k, const double* v, const double* out,
                                const double* lse, const vkd_attention_desc* desc) {
    vkd_attention_desc r;
    char why[256];
    if (!vkd_attention_resolve(desc, &r, "ref_attention_backward", why, sizeof why)) {
        fprintf(stderr, "%s\n", why);
        return;
    }
    double* p = row_buffer(&r);
    for (uint32_t b = 0; b < r.B; b++)
        for (uint32_t h = 0; h < r.H; h++)
            for (uint32_t i = 0; i < r.Tq; i++) {
                const size_t row = ((size_t)b * r.H + h) * r.Tq + i;
                scores(&r, q, k, b, h, i, p);
                const double* gi = dout + at(&r, r.Tq, r.ldo, b, i, h);
                const double* oi = out + at(&r, r.Tq, r.ldo, b, i, h);
                double dl = 0.0;
                for (uint32_t d = 0; d < r.D; d++) dl += gi[d] * oi[d];
                if (delta) delta[row] = dl;
                const double* qi = q + at(&r, r.Tq, r.ldq, b, i, h);
                for (uint32_t j = 0; j < r.Tk; j++) {
                    if (masked(&r, i, j)) continue;
                    const double pij = exp(p[j] - lse[row]);
                    const size_t kj = at(&r, r.Tk, r.ldk, b, j, h), vj = at(&r, r.Tk, r.ldv, b, j, h);
                    double dp = 0.0;
                    for (uint32_t d = 0; d < r.D; d++) dp += gi[d] * v[vj + d];
                    const double ds = pij * (dp - dl);
                    for (uint32_t d = 0; d < r.D; d++) {
                        if (dv) dv[vj + d] += pij * gi[d];
                        if (dq) dq[at(&r, r.Tq, r.ldq, b, i, h) + d] += (double)r.scale * ds * k[kj + d];
                        if (dk) dk[kj + d] += (double)r.scale * ds * qi[d];
                    }
                }
            }
    free(p);
}
