// CLIP text encoder (transformers' CLIPTextModel, and the OpenCLIP ViT-H text tower of
// SD 2.x under the same names), inference only: the text encoder is frozen in every
// distillation method, so there is no backward and no saved state.
//
//   x = token_embedding[ids] + position_embedding[0..T)                 hidden_states[0]
//   for each of the L layers (pre-LN):
//     x += out_proj(attention(q_proj(LN1 x), k_proj(LN1 x), v_proj(LN1 x)))   causal mask,
//                                                  softmax scale head_dim^-0.5, no padding mask
//     x += fc2(act(fc1(LN2 x)))                   act: quick_gelu (SD1) or gelu (SD2)
//                                                  hidden_states[i] = x after layer i
//   last_hidden_state = final_layer_norm(hidden_states[L])
//   pooled[b] = last_hidden_state[b, eos(b)]
//
// Parameters (prefix + ...; the transformers names, so a diffusers text_encoder/
// model.safetensors loads with no rename):
//   text_model.embeddings.token_embedding.weight     (vocab, D)
//   text_model.embeddings.position_embedding.weight  (max_positions, D)
//   text_model.encoder.layers.<i>.self_attn.{q,k,v,out}_proj.{weight (D, D), bias (D)}
//   text_model.encoder.layers.<i>.layer_norm{1,2}.{weight, bias}      (D)
//   text_model.encoder.layers.<i>.mlp.fc1.{weight (I, D), bias (I)}
//   text_model.encoder.layers.<i>.mlp.fc2.{weight (D, I), bias (D)}
//   text_model.final_layer_norm.{weight, bias}       (D)
// Other layouts (single-file SD1 `cond_stage_model.transformer.*`, SD2's OpenCLIP
// `cond_stage_model.model.*` with fused in_proj rows) load through vkd_params_load's
// prefix and rename callback.
//
// Tensors: ids (B, T) int32 with 1 <= T <= max_positions (77 for SD), activations
// (B, T, D) row-major fp32.
#ifndef VKDREAM_PRIOR_CLIP_H
#define VKDREAM_PRIOR_CLIP_H

#include "vkdream/gpu.h"
#include "vkdream/nn/arena.h"
#include "vkdream/nn/params.h"

#ifdef __cplusplus
extern "C" {
#endif

#define VKD_CLIP_PREFIX_MAX 160
#define VKD_CLIP_MAX_LAYERS 64

typedef enum vkd_clip_kind {
    // transformers CLIPTextModel as configured (SD 1.x: CLIP ViT-L/14, 768 wide, 12 layers,
    // 12 heads, quick_gelu). The conditioning is last_hidden_state.
    VKD_CLIP_HF = 0,
    // SD 2.x: OpenCLIP ViT-H/14's text tower (1024 wide, 16 heads, 4096 MLP, gelu, 24
    // layers; diffusers' conversion keeps 23). The conditioning is the output of layer 23
    // (the penultimate of the full tower) WITH final_layer_norm.
    VKD_CLIP_OPENCLIP_H = 1,
} vkd_clip_kind;

typedef enum vkd_clip_act {
    VKD_CLIP_ACT_DEFAULT = 0,  // quick_gelu for VKD_CLIP_HF, gelu for VKD_CLIP_OPENCLIP_H
    VKD_CLIP_ACT_QUICK_GELU,   // x sigmoid(1.702 x)       ("quick_gelu")
    VKD_CLIP_ACT_GELU,         // erf GELU                  ("gelu")
    VKD_CLIP_ACT_GELU_TANH,    // tanh approximation        ("gelu_new", "gelu_pytorch_tanh")
} vkd_clip_act;

// Which position pooled_output takes from each row.
typedef enum vkd_clip_pool {
    VKD_CLIP_POOL_DEFAULT = 0, // ARGMAX (what every SD text encoder config gets)
    // The first position of the largest id: transformers' legacy rule, used when the
    // config's eos_token_id is 2 (CLIP's EOS 49407 is the largest id of its vocabulary).
    VKD_CLIP_POOL_ARGMAX,
    // The first position of eos_token_id (0 when a row has none, as transformers does).
    VKD_CLIP_POOL_EOS_ID,
} vkd_clip_pool;

// Zero means default for every field, except the token ids (see below).
typedef struct vkd_clip_desc {
    vkd_clip_kind kind;
    uint32_t vocab_size;         // 0 = 49408
    uint32_t hidden_size;        // D; 0 = 768 (HF) / 1024 (OpenCLIP-H)
    uint32_t intermediate_size;  // I; 0 = 4 D
    uint32_t num_layers;         // L; 0 = 12 (HF) / 24 (OpenCLIP-H)
    uint32_t num_heads;          // 0 = 12 (HF) / 16 (OpenCLIP-H); must divide D
    uint32_t max_positions;      // 0 = 77
    vkd_clip_act act;
    float layer_norm_eps;        // 0 = 1e-5
    vkd_clip_pool pool;
    // As in config.json (bos/pad are kept for the tokenizer; only eos is used, by
    // VKD_CLIP_POOL_EOS_ID). Zero is a valid id here.
    int32_t bos_token_id, eos_token_id, pad_token_id;
    // Hidden state the UNet is conditioned on (always with final_layer_norm): 1..L, 0 =
    // default: L for HF; for OpenCLIP-H 23 when L is 23 or 24, else L - 1.
    uint32_t cond_layer;
} vkd_clip_desc;

typedef struct vkd_clip_layer {
    uint32_t q_w, k_w, v_w, q_b, k_b, v_b, o_w, o_b;
    uint32_t ln1_w, ln1_b, ln2_w, ln2_b;
    uint32_t fc1_w, fc1_b, fc2_w, fc2_b;
} vkd_clip_layer;

typedef struct vkd_clip {
    vkd_clip_desc d;  // resolved: no defaults left
    char prefix[VKD_CLIP_PREFIX_MAX];
    uint32_t tok_emb, pos_emb, final_ln_w, final_ln_b;
    vkd_clip_layer layers[VKD_CLIP_MAX_LAYERS];
} vkd_clip;

// What one forward produces; every address may be 0 (not wanted).
typedef struct vkd_clip_outputs {
    vkd_addr last_hidden_state;  // (B, T, D) final_layer_norm(hidden_states[L])
    vkd_addr pooled;             // (B, D) last_hidden_state at each row's pooling position
    vkd_addr pool_position;      // (B,) int32: that position
    vkd_addr hidden_states;      // (L + 1, B, T, D): the embeddings, then each layer's raw output
    // One chosen hidden state: index hidden_layer in 0..L (0 = the embeddings, i = output of
    // layer i), or counted from the end when negative (-1 = L, -2 = the penultimate), with
    // final_layer_norm applied when hidden_final_ln.
    vkd_addr hidden;             // (B, T, D)
    int32_t hidden_layer;
    bool hidden_final_ln;
} vkd_clip_outputs;

// Fills the defaults of d into *out and checks it; errors name the bad field and value.
vkd_status vkd_clip_resolve(const vkd_clip_desc* d, vkd_clip_desc* out, vkd_error* err);

// Reads a transformers text encoder config (CLIPTextConfig, or a CLIPConfig's
// "text_config"): vocab_size, hidden_size, intermediate_size, num_hidden_layers,
// num_attention_heads, max_position_embeddings, hidden_act, layer_norm_eps,
// bos/eos/pad_token_id (missing keys take transformers' defaults). kind is VKD_CLIP_HF and
// the pooling rule follows transformers: ARGMAX when eos_token_id == 2, else EOS_ID.
// json: the text (len bytes); `name` is used in errors (e.g. the file path).
vkd_status vkd_clip_config_parse(const char* json, size_t len, const char* name, vkd_clip_desc* out, vkd_error* err);
// Same, from a file.
vkd_status vkd_clip_config_load(const char* path, vkd_clip_desc* out, vkd_error* err);

// Resolves d and declares the parameters (prefix + the names above; prefix may be NULL).
vkd_status vkd_clip_declare(vkd_clip* m, vkd_params* p, const char* prefix, const vkd_clip_desc* d, vkd_error* err);

// Resolved hidden-state index (0..L) of a vkd_clip_outputs.hidden_layer value, or -1 when
// it is out of range.
int32_t vkd_clip_layer_index(const vkd_clip* m, int32_t hidden_layer);
// Hidden state the UNet conditioning takes for a "clip skip" value (A1111 convention:
// 0 or 1 = the model's conditioning layer, 2 = the layer before it, ...): cond_layer -
// (clip_skip - 1), or -1 when that is below 1.
int32_t vkd_clip_skip_layer(const vkd_clip* m, uint32_t clip_skip);

// Pooling position of each row (the same rule as the GPU): pos[b] for ids (B, T) int32.
void vkd_clip_pool_positions(const vkd_clip* m, const int32_t* ids, uint32_t B, uint32_t T, int32_t* pos);

// Records the forward for ids (B, T) int32 on the device; writes the requested outputs.
// Only the layers the outputs need run (a penultimate-only request skips the last
// layer). Temporaries come from the arena and are released before returning. Ids outside
// the vocabulary are clamped by the embedding kernel: check them on the host
// (vkd_embedding_check_ids) where they are known. Bad arguments fail the stream.
void vkd_clip_forward(const vkd_clip* m, const vkd_params* p, vkd_stream* s, vkd_arena* a,
                      const vkd_clip_outputs* out,
                      vkd_addr ids,  // (B, T) int32
                      uint32_t B, uint32_t T);

// Records the UNet conditioning for ids on the device: cond = final_layer_norm(hidden state
// vkd_clip_skip_layer(m, clip_skip)).
void vkd_clip_condition(const vkd_clip* m, const vkd_params* p, vkd_stream* s, vkd_arena* a,
                        vkd_addr cond,  // (B, T, D)
                        vkd_addr ids,   // (B, T) int32
                        uint32_t B, uint32_t T, uint32_t clip_skip);

// Synchronous convenience for a batch of tokenized prompts: checks host ids (B, T) against
// the vocabulary, uploads them, records vkd_clip_condition on a stream of its own, submits
// and waits. cond is the caller's device tensor (B, T, D); the arena's temporaries are
// released afterwards. pooled (B, D) may be 0.
vkd_status vkd_clip_encode(const vkd_clip* m, const vkd_params* p, vkd_arena* a,
                           vkd_addr cond,        // (B, T, D)
                           vkd_addr pooled,      // (B, D) or 0
                           const int32_t* ids,   // (B, T) host
                           uint32_t B, uint32_t T, uint32_t clip_skip, vkd_error* err);

// Float64 reference of the whole forward on the host for tests (params as host float
// arrays indexed like p->items, i.e. w[i] holds parameter i): fills the same outputs
// (NULL = not wanted; hidden_states (L + 1, B, T, D)).
void vkd_ref_clip_forward(const vkd_clip* m, const double* const* w, const int32_t* ids, uint32_t B, uint32_t T,
                          double* last_hidden_state,  // (B, T, D) or NULL
                          double* pooled,             // (B, D) or NULL
                          double* hidden_states);     // (L + 1, B, T, D) or NULL

#ifdef __cplusplus
}
#endif
#endif
