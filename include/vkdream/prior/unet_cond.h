// vkdream conditional UNet (diffusers' UNet2DConditionModel) and its spatial transformer
// (Transformer2DModel with one BasicTransformerBlock), forward and backward, config-driven:
// the sd-tiny fixture, SD 1.x, SD 2.x and the built-in prior run the same code.
//
// Module convention as include/vkdream/prior/blocks.h: declare (diffusers names) -> forward
// (records on a stream, temporaries from an arena, `saved` keeps what the backward needs) ->
// backward (ACCUMULATES into input gradients and, unless frozen, parameter gradients).
//
// LoRA (rank r on every attention's to_q / to_k / to_v / to_out.0: y += (alpha / r) up(down(x)))
// and the class embedding (VSD's camera: flattened 4x4 camera-to-world -> Linear(16, D) -> SiLU
// -> Linear(D, D), added to the time embedding) live in a second, trainable parameter set, so
// the base model can stay frozen (no gradient buffer) while they train.
#ifndef VKDREAM_PRIOR_UNET_COND_H
#define VKDREAM_PRIOR_UNET_COND_H

#include "vkdream/prior/blocks.h"

#ifdef __cplusplus
extern "C" {
#endif

#define VKD_UNET_MAX_BLOCKS 6
#define VKD_UNET_MAX_LAYERS 4

// ---------------------------------------------------------------------------
// Spatial transformer

typedef struct vkd_xformer_desc {
    uint32_t channels;          // C = heads * head_dim (required)
    uint32_t heads;             // required
    uint32_t context_dim;       // cross-attention width (required)
    uint32_t groups;            // GroupNorm groups; 0 = 32
    bool linear_projection;     // proj_in / proj_out are Linear (SD2) instead of 1x1 convs (SD1)
    uint32_t lora_rank;         // 0 = no LoRA
    float lora_alpha;           // 0 = rank (scale 1)
} vkd_xformer_desc;

// One projection (weights in the base set, optional LoRA factors in the LoRA set).
typedef struct vkd_proj {
    uint32_t w, b;              // base: weight (out, in), bias or UINT32_MAX
    uint32_t down, up;          // LoRA: down (r, in), up (out, r), or UINT32_MAX
    uint32_t in, out;
} vkd_proj;

typedef struct vkd_xformer {
    vkd_xformer_desc d;
    char prefix[VKD_MODULE_PREFIX_MAX];
    uint32_t norm_w, norm_b, proj_in_w, proj_in_b, proj_out_w, proj_out_b;
    uint32_t ln1_w, ln1_b, ln2_w, ln2_b, ln3_w, ln3_b;
    vkd_proj q1, k1, v1, o1, q2, k2, v2, o2;
    uint32_t ff1_w, ff1_b, ff2_w, ff2_b;
} vkd_xformer;

typedef struct vkd_xformer_saved {
    uint32_t B, H, W, T;
    vkd_addr x, ctx;                        // the caller's input (B, C, H, W) and context (B, T, Dc)
    vkd_addr gmean, grstd, hn;              // GroupNorm statistics and output (B, C, HW)
    vkd_addr x0;                            // tokens after proj_in (B*HW, C)
    vkd_addr m1, r1, n1, q1, k1, v1, a1, l1, x1;
    vkd_addr m2, r2, n2, q2, k2, v2, a2, l2, x2;
    vkd_addr m3, r3, n3, h, g, x3;
    vkd_addr lq1, lk1, lv1, lo1, lq2, lk2, lv2, lo2; // LoRA down outputs (rows, r) or 0
} vkd_xformer_saved;

vkd_status vkd_xformer_declare(vkd_xformer* m, vkd_params* p, vkd_params* lora, const char* prefix,
                               const vkd_xformer_desc* d, vkd_error* err);
void vkd_xformer_forward(const vkd_xformer* m, const vkd_params* p, const vkd_params* lora, vkd_stream* s,
                         vkd_arena* a,
                         vkd_addr out,  // (B, C, H, W)
                         vkd_addr x,    // (B, C, H, W)
                         vkd_addr ctx,  // (B, T, context_dim)
                         uint32_t B, uint32_t H, uint32_t W, uint32_t T, vkd_xformer_saved* saved);
void vkd_xformer_backward(const vkd_xformer* m, const vkd_params* p, const vkd_params* lora, vkd_stream* s,
                          vkd_arena* a,
                          vkd_addr dx,    // (B, C, H, W) or 0
                          vkd_addr dctx,  // (B, T, context_dim) or 0
                          vkd_addr dout,  // (B, C, H, W)
                          const vkd_xformer_saved* saved);

// ---------------------------------------------------------------------------
// UNet2DConditionModel

typedef enum vkd_unet_prediction {
    VKD_UNET_EPSILON = 0,
    VKD_UNET_V_PREDICTION,
    VKD_UNET_SAMPLE,
} vkd_unet_prediction;

typedef struct vkd_unet_desc {
    uint32_t in_channels, out_channels;            // 0 = 4
    uint32_t sample_size;                          // 0 = 64 (informational)
    uint32_t num_blocks;                           // count of block_out_channels (required)
    uint32_t block_out_channels[VKD_UNET_MAX_BLOCKS];
    bool cross_down[VKD_UNET_MAX_BLOCKS];          // CrossAttnDownBlock2D (else DownBlock2D)
    bool cross_up[VKD_UNET_MAX_BLOCKS];            // CrossAttnUpBlock2D (else UpBlock2D), in up order
    bool mid_cross;                                // UNetMidBlock2DCrossAttn (SD: true)
    uint32_t layers_per_block;                     // 0 = 2
    uint32_t heads[VKD_UNET_MAX_BLOCKS];           // attention heads per down block (up blocks reversed)
    uint32_t cross_attention_dim;                  // required
    bool linear_projection;
    uint32_t norm_groups;                          // 0 = 32
    float norm_eps;                                // 0 = 1e-5
    bool flip_sin_to_cos;                          // SD: true (set by the config loader)
    float freq_shift;                              // SD: 0
    uint32_t class_embed_dim;                      // > 0: class embedding input width (VSD: 16)
    uint32_t lora_rank;                            // 0 = no LoRA
    float lora_alpha;                              // 0 = rank
    vkd_unet_prediction prediction;
} vkd_unet_desc;

// Reads diffusers' unet/config.json. Errors name the file and the key.
vkd_status vkd_unet_config_load(const char* path, vkd_unet_desc* d, vkd_error* err);
vkd_status vkd_unet_config_parse(const char* json, size_t len, const char* what, vkd_unet_desc* d, vkd_error* err);

typedef struct vkd_unet {
    vkd_unet_desc d;
    char prefix[VKD_MODULE_PREFIX_MAX];
    uint32_t temb_dim;
    uint32_t time_l1_w, time_l1_b, time_l2_w, time_l2_b;
    uint32_t class_l1_w, class_l1_b, class_l2_w, class_l2_b; // in the LoRA set, or UINT32_MAX
    uint32_t conv_in_w, conv_in_b, norm_out_w, norm_out_b, conv_out_w, conv_out_b;
    vkd_resnet down_res[VKD_UNET_MAX_BLOCKS][VKD_UNET_MAX_LAYERS];
    vkd_xformer down_attn[VKD_UNET_MAX_BLOCKS][VKD_UNET_MAX_LAYERS];
    vkd_downsample down_sample[VKD_UNET_MAX_BLOCKS];
    vkd_resnet mid_res[2];
    vkd_xformer mid_attn;
    vkd_resnet up_res[VKD_UNET_MAX_BLOCKS][VKD_UNET_MAX_LAYERS + 1];
    vkd_xformer up_attn[VKD_UNET_MAX_BLOCKS][VKD_UNET_MAX_LAYERS + 1];
    vkd_upsample up_sample[VKD_UNET_MAX_BLOCKS];
} vkd_unet;

// Everything the backward needs (arena addresses), filled by the forward.
typedef struct vkd_unet_saved vkd_unet_saved;
vkd_unet_saved* vkd_unet_saved_new(void);
void vkd_unet_saved_free(vkd_unet_saved* sv);

// Activations of the forward for tests (valid while the arena is): time_proj, time_embedding,
// conv_in, down_blocks.i, mid_block, up_blocks.i, conv_norm_out (after SiLU: conv_act).
typedef struct vkd_unet_acts {
    vkd_addr time_proj, temb, conv_in, down[VKD_UNET_MAX_BLOCKS], mid, up[VKD_UNET_MAX_BLOCKS], conv_norm_out, conv_act;
    vkd_addr down_res0; // down_blocks.0.resnets.0, down_blocks.0.attentions.0
    vkd_addr down_attn0;
} vkd_unet_acts;

// Declares the base parameters in p and LoRA / class-embedding parameters in lora (which may
// be NULL when the desc has neither).
vkd_status vkd_unet_declare(vkd_unet* m, vkd_params* p, vkd_params* lora, const char* prefix, const vkd_unet_desc* d,
                            vkd_error* err);
// out = unet(sample, t, context[, class_labels]); t: per-sample timesteps as floats on the
// device. acts may be NULL. saved NULL: inference (temporaries released when done).
void vkd_unet_forward(const vkd_unet* m, const vkd_params* p, const vkd_params* lora, vkd_stream* s, vkd_arena* a,
                      vkd_addr out,          // (B, out_channels, H, W)
                      vkd_addr sample,       // (B, in_channels, H, W)
                      vkd_addr timesteps,    // (B,) float
                      vkd_addr ctx,          // (B, T, cross_attention_dim)
                      vkd_addr class_labels, // (B, class_embed_dim) or 0
                      uint32_t B, uint32_t H, uint32_t W, uint32_t T, vkd_unet_saved* saved, vkd_unet_acts* acts);
// dsample, dctx, dclass (each may be 0) and parameter gradients += through the saved forward.
void vkd_unet_backward(const vkd_unet* m, const vkd_params* p, const vkd_params* lora, vkd_stream* s, vkd_arena* a,
                       vkd_addr dsample, vkd_addr dctx, vkd_addr dclass, vkd_addr dout, const vkd_unet_saved* saved);

#ifdef __cplusplus
}
#endif
#endif
