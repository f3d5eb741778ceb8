// vkdream Stable Diffusion model: tokenizer + CLIP text encoder + UNet + VAE + DDPM schedule,
// loaded from a diffusers folder or from an original single-file checkpoint.
//
//   diffusers folder: <dir>/{unet,vae,text_encoder}/config.json and their weights
//     (diffusion_pytorch_model.safetensors, model.safetensors), <dir>/scheduler/
//     scheduler_config.json and <dir>/tokenizer/ (optional), model_index.json (optional);
//   single file: model.diffusion_model.*, first_stage_model.*, cond_stage_model.* (SD1
//     transformers names or SD2 OpenCLIP names), architecture inferred from the shapes
//     (see vkdream/prior/sd_arch.h for what cannot be: prediction type, eps, heads of
//     non-standard widths) or taken from a diffusers folder's configs (config_dir); the
//     tokenizer folder is given separately.
// Every parameter is declared under its diffusers name from the architecture before any
// weight is read, so a missing tensor, a wrong shape or an unsupported dtype is an error
// naming the file and the tensor (for single files: the original tensor name).
//
// Components are compiled in as their headers exist (VKD_SD_HAVE_*).
#ifndef VKDREAM_PRIOR_SD_H
#define VKDREAM_PRIOR_SD_H

#include "vkdream/gpu.h"
#include "vkdream/nn/params.h"
#include "vkdream/prior/sd_arch.h"

#if defined(__has_include)
#if __has_include("vkdream/tokenizer.h")
#include "vkdream/tokenizer.h"
#define VKD_SD_HAVE_TOKENIZER 1
#endif
#if __has_include("vkdream/prior/clip.h")
#include "vkdream/prior/clip.h"
#define VKD_SD_HAVE_CLIP 1
#endif
#if __has_include("vkdream/prior/unet_cond.h")
#include "vkdream/prior/unet_cond.h"
#define VKD_SD_HAVE_UNET 1
#endif
#if __has_include("vkdream/prior/vae.h")
#include "vkdream/prior/vae.h"
#define VKD_SD_HAVE_VAE 1
#endif
#if __has_include("vkdream/prior/scheduler.h")
#include "vkdream/prior/scheduler.h"
#define VKD_SD_HAVE_SCHEDULER 1
#endif
#endif

#ifdef __cplusplus
extern "C" {
#endif

typedef struct vkd_sd_load_desc {
    // Tokenizer folder (vocab.json, merges.txt, tokenizer_config.json); NULL: <dir>/tokenizer
    // for a diffusers folder when present; none for a single file.
    const char* tokenizer_dir;
    // Single files only: take the architecture from this diffusers folder's configs (the
    // weights must match them) instead of inferring it from the shapes.
    const char* config_dir;
    // "epsilon", "v" (v_prediction) or "sample": overrides the config and the file's
    // metadata. SD 2.x 768-v single files without metadata need "v".
    const char* prediction;
    bool no_text, no_unet, no_vae;  // leave these components out
    bool unet_grad, vae_grad;       // allocate gradient buffers for these parameter sets
    // fp16 weights: every frozen component keeps its matrices and convolution kernels in fp16
    // (half the memory and weight bandwidth; math in fp32, see vkd_params.f16). Components
    // with gradient buffers stay fp32.
    bool f16;
} vkd_sd_load_desc;

typedef struct vkd_sd_model {
    vkd_sd_arch arch;           // what was loaded (has_* false for components left out)
    bool single_file;
    char source[1024];          // the folder or file
    vkd_sd_keymap keymap;       // single files: how the names were mapped
    vkd_params text_p, unet_p, vae_p;  // one parameter set per component
#ifdef VKD_SD_HAVE_TOKENIZER
    vkd_tokenizer* tok;         // NULL when no tokenizer folder was found or given
#endif
#ifdef VKD_SD_HAVE_CLIP
    vkd_clip clip;
#endif
#ifdef VKD_SD_HAVE_UNET
    vkd_unet unet;
#endif
#ifdef VKD_SD_HAVE_VAE
    vkd_vae vae;
#endif
#ifdef VKD_SD_HAVE_SCHEDULER
    vkd_scheduler sched;        // the training schedule (add_noise, epsilon/v conversions)
    bool has_sched;
#endif
} vkd_sd_model;

// Loads `path` (a diffusers folder or a .safetensors single file) onto gpu. *out is freed
// with vkd_sd_free. Components whose module is not compiled in are reported as unsupported
// when the model has them (unless left out with no_*).
vkd_status vkd_sd_load(vkd_gpu* gpu, const char* path, const vkd_sd_load_desc* desc, vkd_sd_model** out,
                       vkd_error* err);
void vkd_sd_free(vkd_sd_model* m);

#ifdef VKD_SD_HAVE_CLIP
// The text encoder desc of an architecture (single files without config). heads must be
// known (hidden_size divisible by 64 or given).
vkd_status vkd_sd_clip_desc(const vkd_sd_arch* a, vkd_clip_desc* d, vkd_error* err);
#endif
#ifdef VKD_SD_HAVE_UNET
// The UNet desc of an architecture (single files without config).
void vkd_sd_unet_desc(const vkd_sd_unet_arch* a, vkd_unet_desc* d);
#endif
#ifdef VKD_SD_HAVE_VAE
void vkd_sd_vae_desc(const vkd_sd_vae_arch* a, vkd_vae_desc* d);
#endif
#ifdef VKD_SD_HAVE_SCHEDULER
void vkd_sd_scheduler_desc(const vkd_sd_sched_arch* a, vkd_scheduler_desc* d);
#endif

#ifdef __cplusplus
}
#endif
#endif
