// vkdream's built-in prior: a small pixel-space text-to-image diffusion model that vkdream
// trains itself (tools/train_prior) on procedural objects it renders itself
// (include/vkdream/shapes.h), and ships in the diffusers folder layout (assets/builtin) so it
// loads through the same code as Stable Diffusion (vkdream/prior/sd.h, sd_prior.h).
//
//   dataset   captions "a <color> <shape>, <front|side|back|overhead> view" (the view words of
//             the distillation's view-dependent prompts: |azimuth| < 45 front, > 135 back, else
//             side, elevation > 60 overhead), images rendered by vkd_shape_render from random
//             orbit cameras like the distillation's (distance 2.3..2.7, fov 45..50, white
//             background), random scale / yaw jitter / shiny; example i is a pure function of
//             (seed, i): nothing is stored, a resumed run sees the same data.
//   model     the engine's UNet2DConditionModel (3 channels in and out, pixels in [-1, 1],
//             v-prediction: v = sqrt(abar) eps - sqrt(1 - abar) x0) conditioned on the engine's CLIP text encoder, which stays at
//             its seeded random initialisation (the engine's CLIP has no backward; a fixed
//             random encoder still gives every caption its own conditioning, and the UNet's
//             cross-attention learns to read it); DDPM linear betas 1e-4..0.02, 1000 steps.
//   training  MSE to v, t ~ U{0..999}, the caption dropped to "" with p = 0.1
//             (classifier-free guidance), AdamW with warm-up and gradient clipping, an EMA of
//             the weights (what is saved); checkpoints hold everything a bitwise resume needs.
//   sampling  DDIM (eta 0) with classifier-free guidance; scoring against the caption's ground
//             truth: dominant color and silhouette IoU vs renders of the true shape.
#ifndef VKDREAM_PRIOR_BUILTIN_H
#define VKDREAM_PRIOR_BUILTIN_H

#include "vkdream/nn/arena.h"
#include "vkdream/nn/params.h"
#include "vkdream/prior/clip.h"
#include "vkdream/prior/scheduler.h"
#include "vkdream/prior/unet_cond.h"
#include "vkdream/shapes.h"
#include "vkdream/tokenizer.h"

#ifdef __cplusplus
extern "C" {
#endif

// ---------------------------------------------------------------------------
// Dataset

typedef enum vkd_builtin_view {
    VKD_BUILTIN_FRONT, VKD_BUILTIN_SIDE, VKD_BUILTIN_BACK, VKD_BUILTIN_OVERHEAD, VKD_BUILTIN_VIEW_COUNT
} vkd_builtin_view;

// Captions are indexed (shape, color, view) -> ((shape * colors) + color) * views + view; the
// empty caption (classifier-free guidance) comes last.
#define VKD_BUILTIN_CAPTIONS (VKD_SHAPE_COUNT * VKD_COLOR_COUNT * VKD_BUILTIN_VIEW_COUNT)
#define VKD_BUILTIN_UNCOND VKD_BUILTIN_CAPTIONS
#define VKD_BUILTIN_CAPTION_MAX 96

const char* vkd_builtin_view_name(vkd_builtin_view v);  // "front", ...
// The view word of a camera (DESIGN.md's view-dependent prompts; azimuth wraps to [-180, 180)).
vkd_builtin_view vkd_builtin_view_of(float azimuth_deg, float elevation_deg);
uint32_t vkd_builtin_caption_index(vkd_shape shape, vkd_shape_color color, vkd_builtin_view view);
// "a red cube, side view" for an index < VKD_BUILTIN_CAPTIONS, "" for VKD_BUILTIN_UNCOND.
void vkd_builtin_caption(uint32_t index, char* out, size_t size);
// Inverse of vkd_builtin_caption_index (index < VKD_BUILTIN_CAPTIONS).
void vkd_builtin_caption_parts(uint32_t index, vkd_shape* shape, vkd_shape_color* color, vkd_builtin_view* view);
// Parses "a <color> <shape>, <view> view" (view NULL when the text has no view words: then
// *view is VKD_BUILTIN_VIEW_COUNT). False when it names no known color and shape.
bool vkd_builtin_parse_caption(const char* text, vkd_shape* shape, vkd_shape_color* color, vkd_builtin_view* view);

// Ranges are uniform [lo, hi]; zero (both ends) means the default given.
typedef struct vkd_builtin_data_desc {
    uint32_t size;             // image side; 0 = 32
    uint64_t seed;
    float uncond_prob;         // caption dropped to ""; 0 = 0.1, < 0 = never
    float elevation_deg[2];    // [-10, 80] (above 60 is an overhead view)
    float azimuth_deg[2];      // [-180, 180]
    float distance[2];         // [2.3, 2.7] (the distillation's default is 2.5)
    float fov_y_deg[2];        // [45, 50]
    float scale[2];            // [0.85, 1.1]
    float yaw_jitter_deg;      // object yaw uniform in +-this; 0 = 15 (larger would blur the view words)
    float shiny_prob;          // 0 = 0.3, < 0 = never
    uint32_t supersample;      // rendered at size * this and box-filtered (anti-aliased edges, like the
                               // distillation's renders); 0 = 2, 1 = off
} vkd_builtin_data_desc;

typedef struct vkd_builtin_example {
    vkd_shape_object obj;
    float azimuth_deg, elevation_deg, distance, fov_y_deg;
    vkd_builtin_view view;
    uint32_t caption_index;    // the caption describing the image (also when dropped)
    uint32_t cond_index;       // what the model is conditioned on: caption_index or VKD_BUILTIN_UNCOND
    char caption[VKD_BUILTIN_CAPTION_MAX]; // the text of cond_index
} vkd_builtin_example;

// Fills the defaults of d into *out.
void vkd_builtin_data_resolve(const vkd_builtin_data_desc* d, vkd_builtin_data_desc* out);
// Example `index` of the dataset: a pure function of (d->seed, index). x (3, size, size) planar
// in [-1, 1] (may be NULL: only the description).
void vkd_builtin_example_get(const vkd_builtin_data_desc* d, uint64_t index, vkd_builtin_example* ex, float* x);
// Renders obj from an orbit camera at size x size, supersampled (0 = 2x2) and box-filtered,
// over a white background: rgb (3, size, size) in [0, 1].
void vkd_builtin_render(const vkd_shape_object* obj, float azimuth_deg, float elevation_deg, float distance,
                        float fov_y_deg, uint32_t size, uint32_t supersample, float* rgb);
// The camera the scoring samples a view with (and SDS's typical camera): azimuth 0 / 90 / 180,
// elevation 15 (overhead: 75), distance 2.5, fov 47.5.
vkd_camera vkd_builtin_view_camera(vkd_builtin_view v, uint32_t size, float* azimuth_deg, float* elevation_deg);
#define VKD_BUILTIN_VIEW_DISTANCE 2.5f
#define VKD_BUILTIN_VIEW_FOV 47.5f

// Writes the tokenizer folder (vocab.json, merges.txt, tokenizer_config.json): CLIP's byte-level
// BPE format with merges that spell every caption word as one token, max_length 16; the same
// files as tools/prior_vocab. ntokens (may be NULL) gets the vocabulary size.
vkd_status vkd_builtin_write_vocab(const char* dir, int* ntokens, vkd_error* err);

// ---------------------------------------------------------------------------
// Model

typedef struct vkd_builtin_arch {
    vkd_unet_desc unet;
    vkd_clip_desc clip;
    vkd_scheduler_desc sched;
} vkd_builtin_arch;

// The shipped configuration for a tokenizer of vocab_size ids and max_length positions:
// UNet block_out_channels (16, 32, 64), layers_per_block 1, GroupNorm 8 groups,
// cross-attention at 16^2 and 8^2 (and the mid block) with heads (1, 2, 4), context 64,
// sample_size 32; CLIP 64 wide, 2 layers, 4 heads, MLP 256, quick_gelu; linear betas.
void vkd_builtin_arch_default(vkd_builtin_arch* a, const vkd_tokenizer_info* tok);
// A tiny configuration for tests (8x8 pixels, 2 levels of 8 / 16 channels, CLIP 16 wide).
void vkd_builtin_arch_tiny(vkd_builtin_arch* a, const vkd_tokenizer_info* tok);

// PyTorch-style initialisation from a seed: weights U(-1/sqrt(fan_in), 1/sqrt(fan_in)),
// biases 0, norm weights 1, embeddings N(0, 1/D).
vkd_status vkd_builtin_init_params(vkd_params* p, uint64_t seed, vkd_error* err);

// The diffusers config files of the architecture (model_index.json, unet/config.json,
// text_encoder/config.json, scheduler/scheduler_config.json) as JSON text (malloc'ed).
char* vkd_builtin_unet_config_json(const vkd_unet_desc* d, const char* extra_kv);
char* vkd_builtin_clip_config_json(const vkd_clip_desc* d);
char* vkd_builtin_scheduler_config_json(const vkd_scheduler_desc* d);

typedef struct vkd_builtin_save_desc {
    bool f16;                  // store the weights as F16 (the loaders convert to F32)
    const char* tokenizer_dir; // copied into <dir>/tokenizer unless it is that folder already
    const char* note;          // e.g. "trained 5000 steps": metadata of the weight files and model_index
} vkd_builtin_save_desc;

// Writes the diffusers folder: model_index.json, unet/{config.json,
// diffusion_pytorch_model.safetensors}, text_encoder/{config.json, model.safetensors},
// scheduler/scheduler_config.json (and tokenizer/ when given). unet_data / text_data: the
// device buffers holding the parameters in the layout of unet_p / text_p (e.g. the EMA copy).
vkd_status vkd_builtin_save(const char* dir, const vkd_builtin_arch* a, const vkd_params* unet_p,
                            const vkd_buffer* unet_data, const vkd_params* text_p, const vkd_buffer* text_data,
                            const vkd_builtin_save_desc* desc, vkd_error* err);

// ---------------------------------------------------------------------------
// Training

typedef struct vkd_builtin_train_desc {
    uint32_t batch;            // 0 = 16
    float lr;                  // peak learning rate; 0 = 1e-3
    uint32_t warmup;           // linear warm-up steps; 0 = 200
    float weight_decay;        // AdamW; 0 = 0.01, < 0 = none
    float max_grad_norm;       // 0 = 1, < 0 = no clipping
    float ema_decay;           // 0 = 0.999 (with the 1 - (1 + n) / (10 + n) warm-up), < 0 = no EMA
    uint64_t seed;             // data, noise, timesteps and the initial weights
    vkd_builtin_data_desc data;
} vkd_builtin_train_desc;

typedef struct vkd_builtin_trainer vkd_builtin_trainer;

// Declares and initialises the model (seeded), allocates Adam moments and the EMA, and
// encodes every caption once with the frozen text encoder.
vkd_status vkd_builtin_trainer_create(vkd_gpu* gpu, const vkd_builtin_arch* arch, const vkd_tokenizer* tok,
                                      const vkd_builtin_train_desc* desc, vkd_builtin_trainer** out, vkd_error* err);
void vkd_builtin_trainer_free(vkd_builtin_trainer* tr);

// One optimizer step on batch `step` of the data (examples step*B .. step*B + B - 1); *loss is
// its MSE. Steps count from 0 (vkd_builtin_trainer_step_count).
vkd_status vkd_builtin_trainer_step(vkd_builtin_trainer* tr, float* loss, float* grad_norm, vkd_error* err);
uint32_t vkd_builtin_trainer_step_count(const vkd_builtin_trainer* tr);
// The loss of the current weights (ema: of the EMA weights) on fixed examples (first ..
// first + count - 1 of a data stream seeded with eval_seed) with fixed noise and timesteps;
// no update.
vkd_status vkd_builtin_trainer_eval(vkd_builtin_trainer* tr, uint64_t eval_seed, uint32_t count, bool ema, float* loss,
                                    vkd_error* err);

// Checkpoint: the weights, Adam moments, EMA, frozen text encoder, step and the configuration
// in one safetensors file (written to path.tmp, then renamed). Loading checks the architecture.
vkd_status vkd_builtin_trainer_save_checkpoint(const vkd_builtin_trainer* tr, const char* path, vkd_error* err);
vkd_status vkd_builtin_trainer_load_checkpoint(vkd_builtin_trainer* tr, const char* path, vkd_error* err);
// The model folder (EMA weights when there is an EMA, else the current ones).
vkd_status vkd_builtin_trainer_save_model(const vkd_builtin_trainer* tr, const char* dir,
                                          const vkd_builtin_save_desc* desc, vkd_error* err);

// The pieces inside (for tests and sampling from memory).
typedef struct vkd_builtin_parts {
    const vkd_builtin_arch* arch;
    const vkd_clip* clip;
    const vkd_params* text_p;
    const vkd_unet* unet;
    const vkd_params* unet_p;   // current weights in data, EMA weights in ema (or data)
    const vkd_buffer* ema;
    const vkd_scheduler* sched;
} vkd_builtin_parts;
vkd_builtin_parts vkd_builtin_trainer_parts(const vkd_builtin_trainer* tr);

// ---------------------------------------------------------------------------
// Sampling and scoring

// A model to sample from: the loaded pieces (e.g. of a vkd_sd_model).
typedef struct vkd_builtin_net {
    const vkd_tokenizer* tok;
    const vkd_clip* clip;
    const vkd_params* text_p;
    const vkd_unet* unet;
    const vkd_params* unet_p;
    const vkd_scheduler* sched;  // the training schedule (its timesteps are set by the sampler)
} vkd_builtin_net;

typedef struct vkd_builtin_sample_desc {
    uint32_t steps;            // DDIM steps; 0 = 50
    float guidance;            // CFG scale s: e = e_n + s (e_y - e_n); 0 = 3
    uint64_t seed;             // initial noise: sample b uses stream (seed, first + b)
    uint64_t first;
    uint32_t batch;            // images per UNet call (each call runs 2x for CFG); 0 = 16
} vkd_builtin_sample_desc;

// Samples one image per caption into rgb (n, 3, S, S) in [0, 1] (S = the UNet's sample_size).
vkd_status vkd_builtin_sample(vkd_gpu* gpu, const vkd_builtin_net* net, const char* const* captions, uint32_t n,
                              const vkd_builtin_sample_desc* desc, float* rgb, vkd_error* err);

typedef struct vkd_builtin_score {
    vkd_shape_color color;     // predicted color: nearest reference color of the foreground mean
    bool color_ok;
    float iou;                 // best silhouette IoU over the true shape's renders (yaw, scale grid)
    float fg_fraction;         // foreground pixels / all
    float mean_rgb[3];         // foreground mean
} vkd_builtin_score;

// Scores an image (3, S, S) in [0, 1] against the caption's truth seen from the view's
// camera (vkd_builtin_view_camera): foreground = pixels farther than 0.1 (max channel) from
// the white background; color: the foreground mean's nearest among the true shape rendered in
// each of the 12 colors (so shading is accounted for); silhouette: IoU of the foreground with
// the true shape's alpha, best over yaw -15..15 and scale 0.85..1.1.
void vkd_builtin_score_image(const float* rgb, uint32_t size, vkd_shape shape, vkd_shape_color color,
                             vkd_builtin_view view, vkd_builtin_score* out);

#ifdef __cplusplus
}
#endif
#endif
