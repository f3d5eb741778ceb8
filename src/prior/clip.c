// CLIP text encoder on the GPU, composed from the nn ops; see include/vkdream/prior/clip.h.
#include "vkdream/prior/clip.h"
#include "vkdream/nn/attention.h"
#include "vkdream/nn/broadcast.h"
#include "vkdream/nn/eltwise.h"
#include "vkdream/nn/embedding.h"
#include "vkdream/nn/layernorm.h"
#include "vkdream/nn/linear.h"
#include "vkdream/nn/matmul.h"
#include "prior/clip.h"
#include "vkd_shaders.h"

#include <cjson/cJSON.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

// ---------------------------------------------------------------------------
// Config

static const char* kind_name(vkd_clip_kind k) {
    return k == VKD_CLIP_HF ? "hf" : k == VKD_CLIP_OPENCLIP_H ? "openclip-h" : "invalid";
}

vkd_status vkd_clip_resolve(const vkd_clip_desc* desc, vkd_clip_desc* out, vkd_error* err) {
    vkd_clip_desc d = *desc;
    if (d.kind != VKD_CLIP_HF && d.kind != VKD_CLIP_OPENCLIP_H)
        return vkd_error_set(err, VKD_ERR_INVALID, "clip: kind %d is not hf (0) or openclip-h (1)", (int)d.kind);
    bool oc = d.kind == VKD_CLIP_OPENCLIP_H;
    if (!d.vocab_size) d.vocab_size = 49408;
    if (!d.hidden_size) d.hidden_size = oc ? 1024 : 768;
    if (!d.intermediate_size) d.intermediate_size = 4 * d.hidden_size;
    if (!d.num_layers) d.num_layers = oc ? 24 : 12;
    if (!d.num_heads) d.num_heads = oc ? 16 : 12;
    if (!d.max_positions) d.max_positions = 77;
    if (d.act == VKD_CLIP_ACT_DEFAULT) d.act = oc ? VKD_CLIP_ACT_GELU : VKD_CLIP_ACT_QUICK_GELU;
    if (d.layer_norm_eps == 0) d.layer_norm_eps = 1e-5f;
    if (d.pool == VKD_CLIP_POOL_DEFAULT) d.pool = VKD_CLIP_POOL_ARGMAX;
    uint32_t L = d.num_layers;
    if (!d.cond_layer) d.cond_layer = !oc ? L : (L == 23 || L == 24) ? 23 : L - 1;

    if (L > VKD_CLIP_MAX_LAYERS)
        return vkd_error_set(err, VKD_ERR_UNSUPPORTED, "clip: num_hidden_layers %u exceeds the supported %d", L,
                             VKD_CLIP_MAX_LAYERS);
    if (d.hidden_size % d.num_heads)
        return vkd_error_set(err, VKD_ERR_INVALID, "clip: num_attention_heads %u does not divide hidden_size %u",
                             d.num_heads, d.hidden_size);
    if (d.hidden_size / d.num_heads > 256)
        return vkd_error_set(err, VKD_ERR_UNSUPPORTED,
                             "clip: head dim %u (hidden_size %u / num_attention_heads %u) exceeds the supported 256",
                             d.hidden_size / d.num_heads, d.hidden_size, d.num_heads);
    if (d.act > VKD_CLIP_ACT_GELU_TANH)
        return vkd_error_set(err, VKD_ERR_INVALID, "clip: act %d is not a vkd_clip_act", (int)d.act);
    if (!(d.layer_norm_eps > 0) || !isfinite(d.layer_norm_eps))
        return vkd_error_set(err, VKD_ERR_INVALID, "clip: layer_norm_eps %g must be finite and > 0",
                             (double)d.layer_norm_eps);
    if (d.pool > VKD_CLIP_POOL_EOS_ID)
        return vkd_error_set(err, VKD_ERR_INVALID, "clip: pool %d is not a vkd_clip_pool", (int)d.pool);
    if (d.pool == VKD_CLIP_POOL_EOS_ID && (d.eos_token_id < 0 || (uint32_t)d.eos_token_id >= d.vocab_size))
        return vkd_error_set(err, VKD_ERR_INVALID, "clip: eos_token_id %d is outside the vocabulary [0, %u)",
                             d.eos_token_id, d.vocab_size);
    if (d.cond_layer < 1 || d.cond_layer > L)
        return vkd_error_set(err, VKD_ERR_INVALID, "clip (%s, %u layers): cond_layer %u must be in 1..%u",
                             kind_name(d.kind), L, d.cond_layer, L);
    if ((uint64_t)d.max_positions * d.hidden_size > UINT32_MAX ||
        (uint64_t)d.vocab_size * d.hidden_size > UINT32_MAX ||
        (uint64_t)d.intermediate_size * d.hidden_size > UINT32_MAX)
        return vkd_error_set(err, VKD_ERR_UNSUPPORTED, "clip: a weight of %u x %u exceeds 2^32 elements",
                             d.vocab_size > d.intermediate_size ? d.vocab_size : d.intermediate_size, d.hidden_size);
    *out = d;
    return VKD_OK;
}

// A positive integer key (transformers' default when absent).
static vkd_status json_uint(const cJSON* root, const char* key, uint32_t def, uint32_t* v, const char* name,
                            vkd_error* err) {
    const cJSON* j = cJSON_GetObjectItemCaseSensitive(root, key);
    if (!j || cJSON_IsNull(j)) {
        *v = def;
        return VKD_OK;
    }
    double x = cJSON_IsNumber(j) ? j->valuedouble : -1;
    if (!(x >= 1 && x <= 1e9 && x == floor(x)))
        return vkd_error_set(err, VKD_ERR_INVALID, "%s: \"%s\" must be a positive integer", name, key);
    *v = (uint32_t)x;
    return VKD_OK;
}

static vkd_status json_id(const cJSON* root, const char* key, int32_t def, int32_t* v, const char* name,
                          vkd_error* err) {
    const cJSON* j = cJSON_GetObjectItemCaseSensitive(root, key);
    if (!j || cJSON_IsNull(j)) {
        *v = def;
        return VKD_OK;
    }
    double x = cJSON_IsNumber(j) ? j->valuedouble : -1e300;
    if (!(x >= -1 && x <= 2147483647.0 && x == floor(x)))
        return vkd_error_set(err, VKD_ERR_INVALID, "%s: \"%s\" must be an integer token id", name, key);
    *v = (int32_t)x;
    return VKD_OK;
}

vkd_status vkd_clip_config_parse(const char* json, size_t len, const char* name, vkd_clip_desc* out,
                                 vkd_error* err) {
    if (!name) name = "text encoder config";
    cJSON* root = cJSON_ParseWithLength(json, len);
    if (!root || !cJSON_IsObject(root)) {
        cJSON_Delete(root);
        return vkd_error_set(err, VKD_ERR_INVALID, "%s: not a JSON object", name);
    }
    // A full CLIPConfig nests the text tower's settings.
    const cJSON* cfg = cJSON_GetObjectItemCaseSensitive(root, "text_config");
    if (!cJSON_IsObject(cfg)) cfg = root;
    vkd_clip_desc d = {.kind = VKD_CLIP_HF};
    vkd_status st = VKD_OK;
    // Defaults are transformers' CLIPTextConfig defaults.
    if (!st) st = json_uint(cfg, "vocab_size", 49408, &d.vocab_size, name, err);
    if (!st) st = json_uint(cfg, "hidden_size", 512, &d.hidden_size, name, err);
    if (!st) st = json_uint(cfg, "intermediate_size", 2048, &d.intermediate_size, name, err);
    if (!st) st = json_uint(cfg, "num_hidden_layers", 12, &d.num_layers, name, err);
    if (!st) st = json_uint(cfg, "num_attention_heads", 8, &d.num_heads, name, err);
    if (!st) st = json_uint(cfg, "max_position_embeddings", 77, &d.max_positions, name, err);
    if (!st) st = json_id(cfg, "bos_token_id", 49406, &d.bos_token_id, name, err);
    if (!st) st = json_id(cfg, "eos_token_id", 49407, &d.eos_token_id, name, err);
    if (!st) st = json_id(cfg, "pad_token_id", 1, &d.pad_token_id, name, err);
    if (!st) {
        const cJSON* eps = cJSON_GetObjectItemCaseSensitive(cfg, "layer_norm_eps");
        if (!eps || cJSON_IsNull(eps))
            d.layer_norm_eps = 1e-5f;
        else if (!cJSON_IsNumber(eps) || !(eps->valuedouble > 0) || !isfinite(eps->valuedouble))
            st = vkd_error_set(err, VKD_ERR_INVALID, "%s: \"layer_norm_eps\" must be a positive number", name);
        else
            d.layer_norm_eps = (float)eps->valuedouble;
    }
    if (!st) {
        const cJSON* act = cJSON_GetObjectItemCaseSensitive(cfg, "hidden_act");
        const char* a = act ? cJSON_GetStringValue(act) : "quick_gelu";
        if (!a)
            st = vkd_error_set(err, VKD_ERR_INVALID, "%s: \"hidden_act\" must be a string", name);
        else if (!strcmp(a, "quick_gelu"))
            d.act = VKD_CLIP_ACT_QUICK_GELU;
        else if (!strcmp(a, "gelu"))
            d.act = VKD_CLIP_ACT_GELU;
        else if (!strcmp(a, "gelu_new") || !strcmp(a, "gelu_pytorch_tanh"))
            d.act = VKD_CLIP_ACT_GELU_TANH;
        else
            st = vkd_error_set(err, VKD_ERR_UNSUPPORTED,
                               "%s: hidden_act \"%s\" is not supported (quick_gelu, gelu, gelu_new, gelu_pytorch_tanh)",
                               name, a);
    }
    cJSON_Delete(root);
    if (st) return st;
    // transformers' rule (CLIPTextTransformer.forward): the legacy configs say eos 2 and
    // pool at the largest id, which is CLIP's <|endoftext|>.
    d.pool = d.eos_token_id == 2 ? VKD_CLIP_POOL_ARGMAX : VKD_CLIP_POOL_EOS_ID;
    vkd_clip_desc r;
    if ((st = vkd_clip_resolve(&d, &r, err))) return vkd_error_prefix(err, "%s: ", name);
    *out = r;
    return VKD_OK;
}

vkd_status vkd_clip_config_load(const char* path, vkd_clip_desc* out, vkd_error* err) {
    FILE* f = fopen(path, "rb");
    if (!f) return vkd_error_set(err, VKD_ERR_IO, "%s: cannot open the text encoder config", path);
    char* buf = NULL;
    long size = -1;
    if (!fseek(f, 0, SEEK_END)) size = ftell(f);
    if (size >= 0 && size < (64 << 20) && !fseek(f, 0, SEEK_SET)) buf = malloc((size_t)size + 1);
    bool ok = buf && fread(buf, 1, (size_t)size, f) == (size_t)size;
    fclose(f);
    if (!ok) {
        free(buf);
        return vkd_error_set(err, VKD_ERR_IO, "%s: cannot read the text encoder config", path);
    }
    buf[size] = 0;
    vkd_status st = vkd_clip_config_parse(buf, (size_t)size, path, out, err);
    free(buf);
    return st;
}

// ---------------------------------------------------------------------------
// Parameters

static vkd_status param(vkd_params* p, uint32_t* idx, vkd_error* err, const char* prefix, int ndim,
                        const int64_t* shape, const char* fmt, int layer) {
    char local[VKD_PARAM_NAME_MAX];
    snprintf(local, sizeof local, fmt, layer);
    *idx = vkd_params_addf(p, ndim, shape, "%s%s", prefix, local);
    if (*idx == UINT32_MAX) {
        char buf[64];
        return vkd_error_set(err, VKD_ERR_INVALID,
                             "clip %s%s: cannot declare with shape %s (name too long, or declared before with "
                             "another shape)",
                             prefix, local, vkd_shape_str(buf, sizeof buf, ndim, shape));
    }
    return VKD_OK;
}

vkd_status vkd_clip_declare(vkd_clip* m, vkd_params* p, const char* prefix, const vkd_clip_desc* desc,
                            vkd_error* err) {
    memset(m, 0, sizeof(*m));
    if (!prefix) prefix = "";
    if (snprintf(m->prefix, sizeof m->prefix, "%s", prefix) >= (int)sizeof m->prefix)
        return vkd_error_set(err, VKD_ERR_INVALID, "clip %s: prefix longer than %d characters", prefix,
                             VKD_CLIP_PREFIX_MAX - 1);
    vkd_status st = vkd_clip_resolve(desc, &m->d, err);
    if (st) return prefix[0] ? vkd_error_prefix(err, "%s: ", prefix) : st;
    const vkd_clip_desc* d = &m->d;
    int64_t D = d->hidden_size, I = d->intermediate_size;
    const int64_t* vD = (int64_t[]){D};
    const int64_t* DD = (int64_t[]){D, D};
    st = param(p, &m->tok_emb, err, prefix, 2, (int64_t[]){d->vocab_size, D},
               "text_model.embeddings.token_embedding.weight", 0);
    if (!st) st = param(p, &m->pos_emb, err, prefix, 2, (int64_t[]){d->max_positions, D},
                        "text_model.embeddings.position_embedding.weight", 0);
    if (!st) {  // the embedding kernels read fp32 tables
        vkd_params_keep_f32(p, m->tok_emb);
        vkd_params_keep_f32(p, m->pos_emb);
    }
    for (uint32_t i = 0; i < d->num_layers && !st; i++) {
        vkd_clip_layer* l = &m->layers[i];
        int li = (int)i;
#define LP(field, nd, shape, local) \
    if (!st) st = param(p, &l->field, err, prefix, nd, shape, "text_model.encoder.layers.%d." local, li)
        // q, k, v weights next to each other (and the biases), so that when every slot is
        // a multiple of 256 bytes (D a multiple of 64: all real CLIPs) they form one (3D, D)
        // weight and one projection GEMM does all three.
        LP(q_w, 2, DD, "self_attn.q_proj.weight");
        LP(k_w, 2, DD, "self_attn.k_proj.weight");
        LP(v_w, 2, DD, "self_attn.v_proj.weight");
        LP(q_b, 1, vD, "self_attn.q_proj.bias");
        LP(k_b, 1, vD, "self_attn.k_proj.bias");
        LP(v_b, 1, vD, "self_attn.v_proj.bias");
        LP(o_w, 2, DD, "self_attn.out_proj.weight");
        LP(o_b, 1, vD, "self_attn.out_proj.bias");
        LP(ln1_w, 1, vD, "layer_norm1.weight");
        LP(ln1_b, 1, vD, "layer_norm1.bias");
        LP(fc1_w, 2, ((int64_t[]){I, D}), "mlp.fc1.weight");
        LP(fc1_b, 1, ((int64_t[]){I}), "mlp.fc1.bias");
        LP(fc2_w, 2, ((int64_t[]){D, I}), "mlp.fc2.weight");
        LP(fc2_b, 1, vD, "mlp.fc2.bias");
        LP(ln2_w, 1, vD, "layer_norm2.weight");
        LP(ln2_b, 1, vD, "layer_norm2.bias");
#undef LP
    }
    if (!st) st = param(p, &m->final_ln_w, err, prefix, 1, vD, "text_model.final_layer_norm.weight", 0);
    if (!st) st = param(p, &m->final_ln_b, err, prefix, 1, vD, "text_model.final_layer_norm.bias", 0);
    return st;
}

int32_t vkd_clip_layer_index(const vkd_clip* m, int32_t hidden_layer) {
    int32_t L = (int32_t)m->d.num_layers;
    int32_t i = hidden_layer < 0 ? L + 1 + hidden_layer : hidden_layer;
    return i >= 0 && i <= L ? i : -1;
}

int32_t vkd_clip_skip_layer(const vkd_clip* m, uint32_t clip_skip) {
    uint32_t skip = clip_skip ? clip_skip - 1 : 0;
    return skip < m->d.cond_layer ? (int32_t)(m->d.cond_layer - skip) : -1;
}

void vkd_clip_pool_positions(const vkd_clip* m, const int32_t* ids, uint32_t B, uint32_t T, int32_t* pos) {
    for (uint32_t b = 0; b < B; b++) {
        const int32_t* r = ids + (size_t)b * T;
        uint32_t best = 0;
        if (m->d.pool == VKD_CLIP_POOL_EOS_ID) {
            for (uint32_t t = 0; t < T; t++)
                if (r[t] == m->d.eos_token_id) {
                    best = t;
                    break;
                }
        } else {
            for (uint32_t t = 1; t < T; t++)
                if (r[t] > r[best]) best = t;
        }
        pos[b] = (int32_t)best;
    }
}

// ---------------------------------------------------------------------------
// Forward

// "clip" or "clip <prefix>" in messages.
#define SP(m) ((m)->prefix[0] ? " " : ""), (m)->prefix

static vkd_unary_op unary_of(vkd_clip_act a) {
    return a == VKD_CLIP_ACT_GELU ? VKD_UNARY_GELU : a == VKD_CLIP_ACT_GELU_TANH ? VKD_UNARY_GELU_TANH
                                                                                   : VKD_UNARY_QUICK_GELU;
}

// out (+)= inp @ weight^T + bias with out's rows ldc apart: the linear layer on the GEMM,
// written into a column slice (q, k, v of one fused tensor) or added onto the residual.
static void gemm(vkd_stream* s, vkd_addr out, uint32_t ldc, bool accumulate, vkd_addr inp, vkd_addr w, bool w_f16,
                 vkd_addr b, uint32_t N, uint32_t C, uint32_t OC) {
    vkd_matmul_forward(s, out, inp, w, b,
                       &(vkd_matmul_desc){.M = (int32_t)N, .N = (int32_t)OC, .K = (int32_t)C, .trans_b = true,
                                          .ldc = (int32_t)ldc, .beta = accumulate ? 1.0f : 0.0f, .b_f16 = w_f16});
}

// Parameters a, b, c of the set lie back to back (each `count` elements of one storage type,
// no padding), so they are one (3 * count) operand.
static bool adjacent(const vkd_params* p, uint32_t a, uint32_t b, uint32_t c, uint64_t count) {
    const vkd_param* q = p->items;
    if (q[a].f16 != q[b].f16 || q[b].f16 != q[c].f16) return false;
    uint64_t per_word = q[a].f16 ? 2 : 1;  // offsets count 4-byte words
    return q[b].offset * per_word == q[a].offset * per_word + count &&
           q[c].offset * per_word == q[b].offset * per_word + count;
}

void vkd_clip_forward(const vkd_clip* m, const vkd_params* p, vkd_stream* s, vkd_arena* a,
                      const vkd_clip_outputs* out, vkd_addr ids, uint32_t B, uint32_t T) {
    const vkd_clip_desc* d = &m->d;
    const uint32_t L = d->num_layers, D = d->hidden_size, I = d->intermediate_size, H = d->num_heads;
    if (!out || !ids || !B || !T || T > d->max_positions) {
        vkd_stream_fail(s, VKD_ERR_INVALID, "clip%s%s: bad input (outputs %s, ids %s, B=%u, T=%u; T must be in 1..%u)",
                        SP(m), out ? "set" : "NULL", ids ? "set" : "0", B, T, d->max_positions);
        return;
    }
    if (!p->data.addr || p->count <= m->final_ln_b) {
        vkd_stream_fail(s, VKD_ERR_INVALID, "clip%s%s: the parameter set is not allocated or not the declared one",
                        SP(m));
        return;
    }
    if ((uint64_t)B * T * (L + 1) * (D > I ? D : I) > UINT32_MAX) {
        vkd_stream_fail(s, VKD_ERR_INVALID, "clip%s%s: B=%u x T=%u is too large for 32-bit element indices",
                        SP(m), B, T);
        return;
    }
    int32_t sel = -1;
    if (out->hidden) {
        sel = vkd_clip_layer_index(m, out->hidden_layer);
        if (sel < 0) {
            vkd_stream_fail(s, VKD_ERR_INVALID, "clip%s%s: hidden_layer %d outside -%u..%u", SP(m),
                            out->hidden_layer, L + 1, L);
            return;
        }
    }
    bool want_last = out->last_hidden_state || out->pooled || out->pool_position;
    // Run only as many layers as the outputs need.
    uint32_t run = want_last || out->hidden_states ? L : 0;
    if (sel > (int32_t)run) run = (uint32_t)sel;

    const uint32_t N = B * T;
    const uint64_t ND = (uint64_t)N * D;
    vkd_arena_mark mark = vkd_arena_push(a);
    vkd_addr x = vkd_arena_alloc(a, s, ND);
    vkd_addr h = vkd_arena_alloc(a, s, ND);
    vkd_addr qkv = vkd_arena_alloc(a, s, 3 * ND);
    vkd_addr att = vkd_arena_alloc(a, s, ND);
    vkd_addr mlp = vkd_arena_alloc(a, s, (uint64_t)N * I);
    vkd_addr mean = vkd_arena_alloc(a, s, N);
    vkd_addr rstd = vkd_arena_alloc(a, s, N);
    if (!rstd) {  // the arena failed the stream
        vkd_arena_pop(a, mark);
        return;
    }
#define W(idx) vkd_params_addr(p, (idx))
#define WH(idx) vkd_params_addr(p, (idx)), vkd_params_is_f16(p, (idx))  // a weight and whether it is fp16
    const float eps = d->layer_norm_eps;
    // Embeddings: token rows, plus the first T position rows broadcast over the batch.
    vkd_embedding_forward(s, x, ids, W(m->tok_emb), N, d->vocab_size, D);
    vkd_broadcast_forward(s, x, x, W(m->pos_emb), (uint32_t[4]){1, B, T, D}, (uint32_t[4]){1, 1, T, D},
                          VKD_BINARY_ADD);
    vkd_attention_desc ad = {.B = B, .H = H, .Tq = T, .D = D / H, .ldq = 3 * D, .ldk = 3 * D, .ldv = 3 * D,
                             .ldo = D, .causal = true};
    for (uint32_t i = 0;; i++) {
        // x is hidden state i here.
        if (out->hidden_states) vkd_stream_copy(s, out->hidden_states + (uint64_t)i * ND * 4, x, (uint32_t)ND);
        if (sel == (int32_t)i) {
            if (out->hidden_final_ln)
                vkd_layernorm_forward(s, out->hidden, mean, rstd, x, W(m->final_ln_w), W(m->final_ln_b), N, D, eps);
            else
                vkd_stream_copy(s, out->hidden, x, (uint32_t)ND);
        }
        if (i == run) break;
        const vkd_clip_layer* l = &m->layers[i];
        vkd_layernorm_forward(s, h, mean, rstd, x, W(l->ln1_w), W(l->ln1_b), N, D, eps);
        if (adjacent(p, l->q_w, l->k_w, l->v_w, (uint64_t)D * D) && adjacent(p, l->q_b, l->k_b, l->v_b, D)) {
            gemm(s, qkv, 3 * D, false, h, WH(l->q_w), W(l->q_b), N, D, 3 * D);
        } else {
            gemm(s, qkv, 3 * D, false, h, WH(l->q_w), W(l->q_b), N, D, D);
            gemm(s, qkv + (uint64_t)D * 4, 3 * D, false, h, WH(l->k_w), W(l->k_b), N, D, D);
            gemm(s, qkv + (uint64_t)2 * D * 4, 3 * D, false, h, WH(l->v_w), W(l->v_b), N, D, D);
        }
        vkd_attention_forward(s, att, 0, qkv, qkv + (uint64_t)D * 4, qkv + (uint64_t)2 * D * 4, &ad);
        gemm(s, x, D, true, att, WH(l->o_w), W(l->o_b), N, D, D);  // x += out_proj(att)
        vkd_layernorm_forward(s, h, mean, rstd, x, W(l->ln2_w), W(l->ln2_b), N, D, eps);
        vkd_linear_forward(s, mlp, h, W(l->fc1_w), W(l->fc1_b), N, D, I, vkd_params_is_f16(p, l->fc1_w));
        vkd_unary_forward(s, mlp, mlp, N * I, unary_of(d->act));
        gemm(s, x, D, true, mlp, WH(l->fc2_w), W(l->fc2_b), N, I, D);  // x += fc2(act(fc1(.)))
    }
    if (want_last) {
        vkd_addr last = out->last_hidden_state ? out->last_hidden_state : h;
        vkd_layernorm_forward(s, last, mean, rstd, x, W(m->final_ln_w), W(m->final_ln_b), N, D, eps);
        if (out->pooled || out->pool_position) {
            vkd_addr pooled = out->pooled ? out->pooled : att;  // att: scratch when only positions are wanted
            vkd_clip_pool_push pp = {.dst = pooled, .src = last, .ids = ids, .pos = out->pool_position, .B = B,
                                     .T = T, .C = D,
                                     .eos_id = d->pool == VKD_CLIP_POOL_EOS_ID ? d->eos_token_id : -1};
            vkd_stream_dispatch_1d(s, VKD_KERNEL(prior_clip_pool), &pp, sizeof pp, (uint64_t)B * D, 64);
        }
    }
#undef W
    vkd_arena_pop(a, mark);
}

void vkd_clip_condition(const vkd_clip* m, const vkd_params* p, vkd_stream* s, vkd_arena* a, vkd_addr cond,
                        vkd_addr ids, uint32_t B, uint32_t T, uint32_t clip_skip) {
    int32_t layer = vkd_clip_skip_layer(m, clip_skip);
    if (layer < 0) {
        vkd_stream_fail(s, VKD_ERR_INVALID, "clip%s%s: clip skip %u goes below layer 1 (conditioning layer %u)",
                        SP(m), clip_skip, m->d.cond_layer);
        return;
    }
    vkd_clip_outputs o = {.hidden = cond, .hidden_layer = layer, .hidden_final_ln = true};
    vkd_clip_forward(m, p, s, a, &o, ids, B, T);
}

vkd_status vkd_clip_encode(const vkd_clip* m, const vkd_params* p, vkd_arena* a, vkd_addr cond, vkd_addr pooled,
                           const int32_t* ids, uint32_t B, uint32_t T, uint32_t clip_skip, vkd_error* err) {
    if (!ids || !cond || !B || !T || T > m->d.max_positions)
        return vkd_error_set(err, VKD_ERR_INVALID, "clip%s%s encode: bad input (ids %s, cond %s, B=%u, T=%u; T must "
                             "be in 1..%u)", SP(m), ids ? "set" : "NULL", cond ? "set" : "0", B, T,
                             m->d.max_positions);
    if (vkd_clip_skip_layer(m, clip_skip) < 0)
        return vkd_error_set(err, VKD_ERR_INVALID, "clip%s%s encode: clip skip %u goes below layer 1 (conditioning "
                             "layer %u)", SP(m), clip_skip, m->d.cond_layer);
    vkd_status st = vkd_embedding_check_ids(ids, B * T, m->d.vocab_size, err);
    if (st) return vkd_error_prefix(err, "clip%s%s encode: ", SP(m));
    vkd_gpu* gpu = p->gpu;
    vkd_buffer buf = {0};
    vkd_stream* s = NULL;
    if ((st = vkd_buffer_alloc(gpu, (size_t)B * T * sizeof(int32_t), &buf, err))) return st;
    st = vkd_buffer_upload(gpu, &buf, 0, ids, (size_t)B * T * sizeof(int32_t), err);
    if (!st) st = vkd_stream_create(gpu, &s, err);
    if (!st) {
        vkd_arena_mark mark = vkd_arena_push(a);
        int32_t layer = vkd_clip_skip_layer(m, clip_skip);
        vkd_clip_outputs o = {.hidden = cond, .hidden_layer = layer, .hidden_final_ln = true, .pooled = pooled};
        vkd_clip_forward(m, p, s, a, &o, buf.addr, B, T);
        st = vkd_stream_submit(s, err);
        vkd_arena_pop(a, mark);
        vkd_stream_destroy(s);
        if (st) vkd_error_prefix(err, "clip%s%s encode: ", SP(m));
    }
    vkd_buffer_free(gpu, &buf);
    return st;
}
