// Float64 reference of the CLIP text encoder forward, from the nn references (the same
// composition as src/prior/clip.c, with q, k, v as separate tensors).
#include "vkdream/prior/clip.h"
#include "vkdream/nn/attention.h"
#include "vkdream/nn/eltwise.h"
#include "vkdream/nn/embedding.h"
#include "vkdream/nn/layernorm.h"
#include "vkdream/nn/linear.h"

#include <stdlib.h>
#include <string.h>

void vkd_ref_clip_forward(const vkd_clip* m, const double* const* w, const int32_t* ids, uint32_t B, uint32_t T,
                          double* last_hidden_state, double* pooled, double* hidden_states) {
    const vkd_clip_desc* d = &m->d;
    const uint32_t L = d->num_layers, D = d->hidden_size, I = d->intermediate_size, H = d->num_heads;
    const uint64_t N = (uint64_t)B * T, ND = N * D;
    double* x = calloc(ND, sizeof(double));
    double* h = calloc(ND, sizeof(double));
    double* q = calloc(ND, sizeof(double));
    double* k = calloc(ND, sizeof(double));
    double* v = calloc(ND, sizeof(double));
    double* att = calloc(ND, sizeof(double));
    double* tmp = calloc(ND, sizeof(double));
    double* mlp = calloc(N * I, sizeof(double));
    double* mean = calloc(N, sizeof(double));
    double* rstd = calloc(N, sizeof(double));
    double* last = last_hidden_state ? last_hidden_state : calloc(ND, sizeof(double));
    vkd_unary_op act = d->act == VKD_CLIP_ACT_GELU        ? VKD_UNARY_GELU
                       : d->act == VKD_CLIP_ACT_GELU_TANH ? VKD_UNARY_GELU_TANH
                                                          : VKD_UNARY_QUICK_GELU;
    if (x && h && q && k && v && att && tmp && mlp && mean && rstd && last) {
        vkd_ref_embedding_forward(x, ids, w[m->tok_emb], N, d->vocab_size, D);
        for (uint64_t r = 0; r < N; r++)
            for (uint32_t c = 0; c < D; c++) x[r * D + c] += w[m->pos_emb][(r % T) * D + c];
        vkd_attention_desc ad = {.B = B, .H = H, .Tq = T, .Tk = T, .D = D / H, .ldq = D, .ldk = D, .ldv = D,
                                 .ldo = D, .causal = true, .scale = 0};
        vkd_attention_desc r;
        char why[256];
        vkd_attention_resolve(&ad, &r, "ref clip", why, sizeof why);
        for (uint32_t i = 0;; i++) {
            if (hidden_states) memcpy(hidden_states + i * ND, x, ND * sizeof(double));
            if (i == L) break;
            const vkd_clip_layer* l = &m->layers[i];
            vkd_ref_layernorm_forward(h, mean, rstd, x, w[l->ln1_w], w[l->ln1_b], N, D, d->layer_norm_eps);
            vkd_ref_linear_forward(q, h, w[l->q_w], w[l->q_b], (uint32_t)N, D, D);
            vkd_ref_linear_forward(k, h, w[l->k_w], w[l->k_b], (uint32_t)N, D, D);
            vkd_ref_linear_forward(v, h, w[l->v_w], w[l->v_b], (uint32_t)N, D, D);
            vkd_ref_attention_forward(att, NULL, q, k, v, &r);
            vkd_ref_linear_forward(tmp, att, w[l->o_w], w[l->o_b], (uint32_t)N, D, D);
            for (uint64_t e = 0; e < ND; e++) x[e] += tmp[e];
            vkd_ref_layernorm_forward(h, mean, rstd, x, w[l->ln2_w], w[l->ln2_b], N, D, d->layer_norm_eps);
            vkd_ref_linear_forward(mlp, h, w[l->fc1_w], w[l->fc1_b], (uint32_t)N, D, I);
            vkd_ref_unary_forward(mlp, mlp, N * I, act);
            vkd_ref_linear_forward(tmp, mlp, w[l->fc2_w], w[l->fc2_b], (uint32_t)N, I, D);
            for (uint64_t e = 0; e < ND; e++) x[e] += tmp[e];
        }
        vkd_ref_layernorm_forward(last, mean, rstd, x, w[m->final_ln_w], w[m->final_ln_b], N, D, d->layer_norm_eps);
        if (pooled) {
            int32_t* pos = malloc(B * sizeof(int32_t));
            if (pos) {
                vkd_clip_pool_positions(m, ids, B, T, pos);
                for (uint32_t b = 0; b < B; b++)
                    memcpy(pooled + (uint64_t)b * D, last + ((uint64_t)b * T + (uint32_t)pos[b]) * D,
                           D * sizeof(double));
            }
            free(pos);
        }
    }
    if (last != last_hidden_state) free(last);
    free(x);
    free(h);
    free(q);
    free(k);
    free(v);
    free(att);
    free(tmp);
    free(mlp);
    free(mean);
    free(rstd);
}
