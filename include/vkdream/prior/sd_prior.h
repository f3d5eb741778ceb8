// Stable Diffusion (and the built-in prior, which uses the same code) as a distillation prior
// (include/vkdream/prior.h): tokenizer + CLIP text encoder for the conditions, the UNet for
// the predictions, and for latent models the VAE encoder (with its backward, so the
// distillation gradient reaches the renders) and decoder. Loads a diffusers folder:
// tokenizer/, text_encoder/, unet/, vae/ (absent: a pixel-space model), scheduler/; or an
// original single-file checkpoint (architecture inferred from the shapes, or config_dir).
#ifndef VKDREAM_PRIOR_SD_PRIOR_H
#define VKDREAM_PRIOR_SD_PRIOR_H

#include "vkdream/prior.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct vkd_sd_prior_desc {
    const char* tokenizer_dir;   // NULL: <folder>/tokenizer (single files need it)
    const char* config_dir;      // single files: take the architecture from this diffusers folder's configs
    const char* prediction;      // "epsilon", "v_prediction", "sample"; NULL: scheduler_config.json
    bool pixel;                  // ignore a VAE even when present (pixel-space guidance on the render)
    // Random-weight test models whose text encoder is smaller than the tokenizer (the sd-tiny
    // fixture): fold token ids into the encoder's vocabulary (id mod vocab_size).
    bool fold_token_ids;
    bool f16;                    // fp16 weights for the frozen text encoder, UNet and VAE (vkd_params.f16);
                                 // VSD's LoRA and camera embedding stay fp32
    uint32_t render_size;        // the render size the prior works at; 0 = unet sample_size * 8 (latent) or
                                 // sample_size (pixel)
} vkd_sd_prior_desc;

vkd_status vkd_sd_prior_create(vkd_gpu* gpu, const char* folder, const vkd_sd_prior_desc* desc, vkd_prior** out,
                               vkd_error* err);

#ifdef __cplusplus
}
#endif
#endif
