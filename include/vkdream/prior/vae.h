// The Stable Diffusion VAE (diffusers AutoencoderKL): encoder (differentiable: latent-space
// SDS needs the gradient of the latent mean with respect to the image), the diagonal
// Gaussian posterior, and the decoder. One config-driven implementation for the real SD
// VAEs and the tiny fixture alike. Follows the prior module convention (PRIOR.md and
// include/vkdream/prior/blocks.h): declare -> (params alloc/load) -> forward (optionally
// saving what the backward needs in the arena) -> backward (+= into every gradient).
//
// Architecture (diffusers v0.21 names, prefix + ...):
//   encoder.conv_in (3x3) -> encoder.down_blocks.i: layers_per_block resnets
//     (.resnets.j) and, except in the last block, .downsamplers.0.conv (pad (0,1,0,1),
//     3x3 stride 2) -> encoder.mid_block: resnets.0, attentions.0 (single-head
//     self-attention over the H*W pixels: group_norm, to_q, to_k, to_v, to_out.0, all
//     linear with bias, residual), resnets.1 -> encoder.conv_norm_out, SiLU,
//     encoder.conv_out (3x3, 2L channels) -> quant_conv (1x1) = moments.
//   post_quant_conv (1x1) -> decoder.conv_in (3x3) -> decoder.mid_block ->
//     decoder.up_blocks.i (block_out_channels reversed): layers_per_block + 1 resnets and,
//     except in the last, .upsamplers.0.conv (nearest 2x, 3x3) -> decoder.conv_norm_out,
//     SiLU, decoder.conv_out (3x3).
// Every GroupNorm has eps 1e-6 and norm_num_groups groups; resnets have no time embedding.
// The latent scaling (scaling_factor) is the caller's: encode returns the raw posterior
// and decode takes the raw latent, as diffusers' vae.encode / vae.decode do.
#ifndef VKDREAM_PRIOR_VAE_H
#define VKDREAM_PRIOR_VAE_H

#include "vkdream/prior/blocks.h"

#ifdef __cplusplus
extern "C" {
#endif

#define VKD_VAE_MAX_BLOCKS 8
#define VKD_VAE_MAX_LAYERS 4  // resnets per encoder block (the decoder's blocks have one more)

typedef enum vkd_vae_attention {
    VKD_VAE_ATTN_AUTO = 0,     // flash attention when the channel count allows it, else explicit
    VKD_VAE_ATTN_FLASH = 1,    // vkd_attention (head dim = C <= 256)
    VKD_VAE_ATTN_EXPLICIT = 2, // matmul -> softmax -> matmul with the (HW, HW) matrix stored (any C)
} vkd_vae_attention;

// Zero means default; the defaults are the SD 1.x / 2.x VAE.
typedef struct vkd_vae_desc {
    uint32_t in_channels;       // 0 = 3
    uint32_t out_channels;      // 0 = 3
    uint32_t latent_channels;   // L; 0 = 4
    uint32_t num_blocks;        // 0 = 4 with block_out_channels (128, 256, 512, 512)
    uint32_t block_out_channels[VKD_VAE_MAX_BLOCKS];
    uint32_t layers_per_block;  // 0 = 2
    uint32_t norm_num_groups;   // 0 = 32
    uint32_t sample_size;       // image size the model was trained at; 0 = 512 (informational)
    float scaling_factor;       // 0 = 0.18215 (latents for the UNet are mean * scaling_factor)
    float shift_factor;         // 0 for SD 1.x / 2.x: latents = (mean - shift) * scale
    float eps;                  // GroupNorm eps; 0 = 1e-6
    bool no_mid_attention;      // diffusers' mid_block_add_attention = false
    bool no_encoder;            // declare (and load) only the decoder side
    bool no_decoder;            // declare (and load) only the encoder side
    vkd_vae_attention attention;
} vkd_vae_desc;

// Reads a diffusers vae/config.json into *d (keys it lacks keep their zero = default):
// in_channels, out_channels, latent_channels, block_out_channels, layers_per_block,
// norm_num_groups, sample_size, scaling_factor, shift_factor, mid_block_add_attention.
// Checks _class_name AutoencoderKL, the block types (DownEncoderBlock2D / UpDecoderBlock2D)
// and act_fn silu; errors name the file and the key.
vkd_status vkd_vae_config_load(const char* path, vkd_vae_desc* d, vkd_error* err);
// Same from JSON text; `what` names it in errors.
vkd_status vkd_vae_config_parse(const char* json, size_t len, const char* what, vkd_vae_desc* d, vkd_error* err);

// The mid-block attention (diffusers Attention with one head of dim C, residual connection).
typedef struct vkd_vae_attn {
    uint32_t C, groups;
    float eps;
    bool explicit_softmax;      // resolved attention mode
    char prefix[VKD_MODULE_PREFIX_MAX];
    uint32_t norm_w, norm_b, q_w, q_b, k_w, k_b, v_w, v_b, o_w, o_b;
} vkd_vae_attn;

typedef struct vkd_vae_attn_saved {
    uint32_t B, H, W;
    vkd_addr x;                 // (B, C, H, W) the caller's input
    vkd_addr mean, rstd;        // (B, groups)
    vkd_addr hn;                // (B, C, HW) group_norm(x)
    vkd_addr q, k, v, o;        // (B, HW, C) projections and attention output
    vkd_addr lse;               // (B, 1, HW) flash mode, or 0
    vkd_addr prob;              // (B, HW, HW) softmax probabilities in explicit mode, or 0
} vkd_vae_attn_saved;

typedef struct vkd_vae_mid {
    vkd_resnet res0, res1;
    vkd_vae_attn attn;
    bool has_attn;
} vkd_vae_mid;

typedef struct vkd_vae_mid_saved {
    vkd_resnet_saved r0, r1;
    vkd_vae_attn_saved at;
    vkd_addr h0, h1;            // (B, C, H, W) outputs of resnets.0 and attentions.0
} vkd_vae_mid_saved;

typedef struct vkd_vae_encoder {
    uint32_t conv_in_w, conv_in_b;
    vkd_resnet res[VKD_VAE_MAX_BLOCKS][VKD_VAE_MAX_LAYERS];
    vkd_downsample down[VKD_VAE_MAX_BLOCKS];  // blocks 0 .. num_blocks - 2
    vkd_vae_mid mid;
    uint32_t norm_w, norm_b, conv_out_w, conv_out_b;
} vkd_vae_encoder;

typedef struct vkd_vae_decoder {
    uint32_t conv_in_w, conv_in_b;
    vkd_vae_mid mid;
    vkd_resnet res[VKD_VAE_MAX_BLOCKS][VKD_VAE_MAX_LAYERS + 1];
    vkd_upsample up[VKD_VAE_MAX_BLOCKS];      // blocks 0 .. num_blocks - 2
    uint32_t norm_w, norm_b, conv_out_w, conv_out_b;
} vkd_vae_decoder;

typedef struct vkd_vae {
    vkd_vae_desc d;             // resolved
    char prefix[VKD_MODULE_PREFIX_MAX];
    vkd_vae_encoder enc;
    vkd_vae_decoder dec;
    uint32_t quant_w, quant_b, post_quant_w, post_quant_b;
} vkd_vae;

// Everything the encoder backward needs, and the intermediate activations (diffusers'
// forward-hook outputs, for tests): arena addresses valid until the caller pops/resets.
typedef struct vkd_vae_encode_saved {
    uint32_t B, H, W;                          // image size
    uint32_t bh[VKD_VAE_MAX_BLOCKS], bw[VKD_VAE_MAX_BLOCKS]; // resolution inside block i
    vkd_addr image;                            // the caller's input
    vkd_addr conv_in;                          // encoder.conv_in
    vkd_resnet_saved res[VKD_VAE_MAX_BLOCKS][VKD_VAE_MAX_LAYERS];
    vkd_addr res_out[VKD_VAE_MAX_BLOCKS][VKD_VAE_MAX_LAYERS];
    vkd_downsample_saved down[VKD_VAE_MAX_BLOCKS];
    vkd_addr block_out[VKD_VAE_MAX_BLOCKS];    // encoder.down_blocks.i
    vkd_vae_mid_saved mid;
    vkd_addr mid_out;                          // encoder.mid_block
    vkd_addr norm_mean, norm_rstd, norm_out;   // encoder.conv_norm_out (before SiLU)
    vkd_addr act;                              // SiLU(conv_norm_out)
    vkd_addr conv_out;                         // encoder.conv_out (B, 2L, h, w)
    vkd_addr moments;                          // the caller's output (quant_conv)
} vkd_vae_encode_saved;

typedef struct vkd_vae_decode_saved {
    uint32_t B, h, w;                          // latent size
    uint32_t bh[VKD_VAE_MAX_BLOCKS], bw[VKD_VAE_MAX_BLOCKS]; // input resolution of up block i
    vkd_addr latent;                           // the caller's input
    vkd_addr post_quant;                       // post_quant_conv
    vkd_addr conv_in;                          // decoder.conv_in
    vkd_vae_mid_saved mid;
    vkd_addr mid_out;                          // decoder.mid_block
    vkd_resnet_saved res[VKD_VAE_MAX_BLOCKS][VKD_VAE_MAX_LAYERS + 1];
    vkd_addr res_out[VKD_VAE_MAX_BLOCKS][VKD_VAE_MAX_LAYERS + 1];
    vkd_upsample_saved up[VKD_VAE_MAX_BLOCKS];
    vkd_addr block_out[VKD_VAE_MAX_BLOCKS];    // decoder.up_blocks.i
    vkd_addr norm_mean, norm_rstd, norm_out;   // decoder.conv_norm_out (before SiLU)
    vkd_addr act;                              // SiLU(conv_norm_out)
    vkd_addr image;                            // the caller's output (decoder.conv_out)
} vkd_vae_decode_saved;

// Resolves the desc's defaults, checks it (channels divisible by the groups, block counts
// within the limits) and declares the parameters under prefix (e.g. "" for a diffusers
// vae/ file, "first_stage_model." is the loader's rename business).
vkd_status vkd_vae_declare(vkd_vae* m, vkd_params* p, const char* prefix, const vkd_vae_desc* d, vkd_error* err);

// Latent size for an H x W image (H / 2^(num_blocks - 1) for sizes divisible by it).
void vkd_vae_latent_size(const vkd_vae* m, uint32_t H, uint32_t W, uint32_t* h, uint32_t* w);

// moments = quant_conv(encoder(image)).
void vkd_vae_encode_forward(const vkd_vae* m, const vkd_params* p, vkd_stream* s, vkd_arena* a,
                            vkd_addr moments,  // (B, 2L, h, w)
                            vkd_addr image,    // (B, in_channels, H, W), values in [-1, 1]
                            uint32_t B, uint32_t H, uint32_t W, vkd_vae_encode_saved* saved);
// dimage += dL/dimage (0: not needed) and encoder/quant_conv parameter gradients += (unless
// frozen), given dmoments = dL/dmoments.
void vkd_vae_encode_backward(const vkd_vae* m, const vkd_params* p, vkd_stream* s, vkd_arena* a,
                             vkd_addr dimage,    // (B, in_channels, H, W) or 0
                             vkd_addr dmoments,  // (B, 2L, h, w)
                             const vkd_vae_encode_saved* saved);

// The posterior (diffusers DiagonalGaussianDistribution): mean = moments[:, :L],
// logvar = clamp(moments[:, L:], -30, 20), std = exp(logvar / 2), and a sample
// z = mean + std * noise. Any output may be 0 (not wanted); noise is read only for z.
void vkd_vae_posterior_forward(vkd_stream* s,
                               vkd_addr mean,     // (B, L, h, w) or 0
                               vkd_addr logvar,   // (B, L, h, w) or 0
                               vkd_addr std_,     // (B, L, h, w) or 0
                               vkd_addr z,        // (B, L, h, w) or 0
                               vkd_addr moments,  // (B, 2L, h, w)
                               vkd_addr noise,    // (B, L, h, w) or 0 (when z is 0)
                               uint32_t B, uint32_t L, uint32_t hw);
// dmoments += the gradient through mean, logvar, std and z (each of their gradients may be
// 0). The clamp passes gradient where -30 <= raw logvar <= 20.
void vkd_vae_posterior_backward(vkd_stream* s,
                                vkd_addr dmoments, // (B, 2L, h, w)
                                vkd_addr dmean,    // (B, L, h, w) or 0
                                vkd_addr dlogvar,  // (B, L, h, w) or 0
                                vkd_addr dstd,     // (B, L, h, w) or 0
                                vkd_addr dz,       // (B, L, h, w) or 0
                                vkd_addr moments,  // (B, 2L, h, w) of the forward
                                vkd_addr noise,    // (B, L, h, w), read when dz is set
                                uint32_t B, uint32_t L, uint32_t hw);

// image = decoder(post_quant_conv(latent)); the latent is used as given (no 1/scaling_factor).
void vkd_vae_decode_forward(const vkd_vae* m, const vkd_params* p, vkd_stream* s, vkd_arena* a,
                            vkd_addr image,   // (B, out_channels, h * f, w * f), f = 2^(num_blocks - 1)
                            vkd_addr latent,  // (B, L, h, w)
                            uint32_t B, uint32_t h, uint32_t w, vkd_vae_decode_saved* saved);
// dlatent += dL/dlatent (0: not needed) and decoder/post_quant_conv parameter gradients +=.
void vkd_vae_decode_backward(const vkd_vae* m, const vkd_params* p, vkd_stream* s, vkd_arena* a,
                             vkd_addr dlatent,  // (B, L, h, w) or 0
                             vkd_addr dimage,   // (B, out_channels, H, W)
                             const vkd_vae_decode_saved* saved);

// The mid-block attention on its own (also used by tests): out = x + to_out(attn(norm(x))).
vkd_status vkd_vae_attn_declare(vkd_vae_attn* m, vkd_params* p, const char* prefix, uint32_t C, uint32_t groups,
                                float eps, vkd_vae_attention mode, vkd_error* err);
void vkd_vae_attn_forward(const vkd_vae_attn* m, const vkd_params* p, vkd_stream* s, vkd_arena* a,
                          vkd_addr out,  // (B, C, H, W)
                          vkd_addr x,    // (B, C, H, W)
                          uint32_t B, uint32_t H, uint32_t W, vkd_vae_attn_saved* saved);
void vkd_vae_attn_backward(const vkd_vae_attn* m, const vkd_params* p, vkd_stream* s, vkd_arena* a,
                           vkd_addr dx,    // (B, C, H, W) or 0
                           vkd_addr dout,  // (B, C, H, W)
                           const vkd_vae_attn_saved* saved);

#ifdef __cplusplus
}
#endif
#endif
