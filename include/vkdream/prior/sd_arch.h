// vkdream Stable Diffusion architecture descriptions and checkpoint key maps.
//
// One description per component (UNet, VAE, CLIP text encoder, DDPM schedule), filled
// either from a diffusers folder (each component's config.json, model_index.json optional)
// or inferred from the tensor shapes of an original single-file checkpoint
// (model.diffusion_model.*, first_stage_model.*, cond_stage_model.*). The model modules
// (clip.h, unet.h, vae.h, scheduler.h) take their own descs; vkdream/prior/sd.h converts.
//
// Key maps: every parameter is declared under its canonical diffusers / transformers name;
// the rename functions below give its name (and row range) in an original single file,
// computed from the description (block counts, layers per block, which blocks have
// attention), not from a table for one model size.
//
// What shapes cannot tell (documented defaults for single files without a config):
//   - prediction type (epsilon vs v): from the file's __metadata__ "prediction_type" or
//     "modelspec.prediction_type", else the caller's --prediction, else epsilon. SD 2.x
//     768-v checkpoints need v (vkd_sd_prediction_parse accepts "v", "v_prediction").
//   - GroupNorm groups 32, eps 1e-5 (UNet) / 1e-6 (VAE), VAE scaling factor 0.18215,
//     sample sizes (UNet 64, or 96 for SD2 with v-prediction; VAE 512);
//   - heads: SD1 (transformers CLIP text encoder, 768-wide cross attention) uses 8 heads
//     in every UNet block; SD2 (OpenCLIP text encoder or 1024-wide cross attention) uses
//     head dim 64. CLIP text encoders use head dim 64 (widths not divisible by 64 cannot be
//     inferred: give a config);
//   - SD2's OpenCLIP text encoder: its last resblock is not used (SD2 conditions on the
//     penultimate layer with the final LayerNorm), so num_layers = resblocks - 1, exactly
//     the 23-layer text encoder of diffusers' SD2 folders; activation gelu (SD1: quick_gelu).
#ifndef VKDREAM_PRIOR_SD_ARCH_H
#define VKDREAM_PRIOR_SD_ARCH_H

#include "vkdream/base.h"
#include "vkdream/nn/params.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct vkd_safetensors vkd_safetensors;

#define VKD_SD_MAX_LEVELS 8

typedef enum vkd_sd_version {
    VKD_SD_VERSION_UNKNOWN = 0,
    VKD_SD_VERSION_1,  // CLIP ViT-L text encoder (transformers names), 8 heads, conv proj_in
    VKD_SD_VERSION_2,  // OpenCLIP ViT-H text encoder, head dim 64, linear proj_in
} vkd_sd_version;

typedef enum vkd_sd_class_embed {
    VKD_SD_CLASS_EMBED_NONE = 0,
    VKD_SD_CLASS_EMBED_PROJECTION,  // class_embedding.linear_1 -> SiLU -> linear_2, added to temb
} vkd_sd_class_embed;

// diffusers UNet2DConditionModel. Down level i has block_out_channels[i] channels; up block
// i (diffusers numbering, from the bottom) works at level levels-1-i.
typedef struct vkd_sd_unet_arch {
    int in_channels, out_channels;
    int levels;                                    // len(block_out_channels)
    int block_out_channels[VKD_SD_MAX_LEVELS];
    int layers_per_block;                          // resnets per down block; up blocks have one more
    bool down_attn[VKD_SD_MAX_LEVELS];             // down_blocks.i is CrossAttnDownBlock2D
    bool up_attn[VKD_SD_MAX_LEVELS];               // up_blocks.i is CrossAttnUpBlock2D
    bool mid_attn;                                 // UNetMidBlock2DCrossAttn (always in SD)
    // Per down level; up block i uses index levels-1-i, the mid block levels-1 (diffusers).
    int heads[VKD_SD_MAX_LEVELS];
    int transformer_layers[VKD_SD_MAX_LEVELS];
    int cross_attention_dim;
    bool use_linear_projection;                    // proj_in/proj_out linear (SD2) or 1x1 conv (SD1)
    bool upcast_attention;
    int norm_num_groups;                           // 32
    float norm_eps;                                // 1e-5 (transformer GroupNorms use 1e-6)
    bool flip_sin_to_cos;                          // true
    float freq_shift;                              // 0
    int time_embed_dim;                            // 4 * block_out_channels[0]
    vkd_sd_class_embed class_embed;
    int class_embed_input_dim;                     // projection input (e.g. 16 for a 4x4 camera)
    int sample_size;                               // latent size the model was trained at
} vkd_sd_unet_arch;

// diffusers AutoencoderKL (DownEncoderBlock2D / UpDecoderBlock2D, mid-block attention).
typedef struct vkd_sd_vae_arch {
    int in_channels, out_channels, latent_channels;
    int levels;
    int block_out_channels[VKD_SD_MAX_LEVELS];
    int layers_per_block;                          // encoder resnets per level; decoder has one more
    int norm_num_groups;
    bool mid_attn;
    float scaling_factor;
    int sample_size;
} vkd_sd_vae_arch;

typedef enum vkd_sd_act {
    VKD_SD_ACT_QUICK_GELU = 0,  // x * sigmoid(1.702 x): CLIP ViT-L (SD1)
    VKD_SD_ACT_GELU,            // erf GELU: OpenCLIP (SD2)
} vkd_sd_act;

// transformers CLIPTextModel: pre-LN layers, causal mask, final LayerNorm. The conditioning
// is last_hidden_state (final LayerNorm of layer num_layers's output).
typedef struct vkd_sd_text_arch {
    int vocab_size, hidden_size, intermediate_size, num_layers, num_heads, max_positions;
    vkd_sd_act act;
    float layer_norm_eps;
    int bos_id, eos_id, pad_id;  // the config's ids (pooling); the tokenizer has its own
    int file_layers;             // inferred only: layers stored in the file (>= num_layers); 0 = num_layers
} vkd_sd_text_arch;

typedef enum vkd_sd_prediction {
    VKD_SD_PREDICTION_EPSILON = 0,
    VKD_SD_PREDICTION_V,
    VKD_SD_PREDICTION_SAMPLE,
} vkd_sd_prediction;

typedef enum vkd_sd_beta_schedule {
    VKD_SD_BETA_SCALED_LINEAR = 0,  // linspace(sqrt(b0), sqrt(b1))^2 (SD)
    VKD_SD_BETA_LINEAR,
    VKD_SD_BETA_SQUAREDCOS_CAP_V2,
} vkd_sd_beta_schedule;

typedef enum vkd_sd_spacing {
    VKD_SD_SPACING_LEADING = 0,
    VKD_SD_SPACING_TRAILING,
    VKD_SD_SPACING_LINSPACE,
} vkd_sd_spacing;

// diffusers DDPMScheduler config.
typedef struct vkd_sd_sched_arch {
    int num_train_timesteps;           // 1000
    double beta_start, beta_end;       // 0.00085, 0.012 (double: as Python reads the config)
    vkd_sd_beta_schedule beta_schedule;
    vkd_sd_prediction prediction;
    int steps_offset;                  // 1
    vkd_sd_spacing timestep_spacing;   // leading
    bool clip_sample;
    bool rescale_betas_zero_snr;
} vkd_sd_sched_arch;

// Text encoder tensor layout in a single file.
typedef enum vkd_sd_text_layout {
    VKD_SD_TEXT_HF = 0,    // cond_stage_model.transformer.text_model.* (SD1, transformers names)
    VKD_SD_TEXT_OPENCLIP,  // cond_stage_model.model.* (SD2: fused in_proj, resblocks, ln_final)
} vkd_sd_text_layout;

typedef struct vkd_sd_arch {
    vkd_sd_version version;
    bool has_unet, has_vae, has_text;
    vkd_sd_unet_arch unet;
    vkd_sd_vae_arch vae;
    vkd_sd_text_arch text;
    vkd_sd_sched_arch sched;
} vkd_sd_arch;

// Defaults: SD 1.5's UNet/VAE/text encoder/scheduler.
void vkd_sd_unet_arch_default(vkd_sd_unet_arch* a);
void vkd_sd_vae_arch_default(vkd_sd_vae_arch* a);
void vkd_sd_text_arch_default(vkd_sd_text_arch* a);
void vkd_sd_sched_arch_default(vkd_sd_sched_arch* a);

// Parses a diffusers / transformers config.json given as text (`path` only names it in
// errors). Unsupported options (other block types, activations, time-embedding variants)
// are errors naming the file, the key and the value.
vkd_status vkd_sd_unet_arch_parse(vkd_sd_unet_arch* a, const char* json, const char* path, vkd_error* err);
vkd_status vkd_sd_vae_arch_parse(vkd_sd_vae_arch* a, const char* json, const char* path, vkd_error* err);
vkd_status vkd_sd_text_arch_parse(vkd_sd_text_arch* a, const char* json, const char* path, vkd_error* err);
vkd_status vkd_sd_sched_arch_parse(vkd_sd_sched_arch* a, const char* json, const char* path, vkd_error* err);
// Reads a whole text file (NUL-terminated, free with free()).
vkd_status vkd_sd_read_text(const char* path, char** out, size_t* size, vkd_error* err);

// A diffusers folder: unet/config.json, vae/config.json, text_encoder/config.json (each
// optional, has_* say which were found; at least one must be), scheduler/scheduler_config.json
// (optional: SD defaults). model_index.json, when present, must name the components found.
vkd_status vkd_sd_arch_load_dir(vkd_sd_arch* a, const char* dir, vkd_error* err);

// Infers every component present in an original single file from its tensor shapes (see
// the header comment for what cannot be inferred). text_layout gets the file's layout.
// prediction: the metadata's if present, else `fallback`.
vkd_status vkd_sd_arch_infer(vkd_sd_arch* a, const vkd_safetensors* f, vkd_sd_prediction fallback,
                             vkd_error* err);
// "epsilon", "v", "v_prediction", "v-prediction", "sample"; false for anything else.
bool vkd_sd_prediction_parse(const char* s, vkd_sd_prediction* out);
const char* vkd_sd_prediction_name(vkd_sd_prediction p);  // diffusers' spelling
// The metadata's prediction type ("prediction_type" or "modelspec.prediction_type"); false
// when absent or unknown.
bool vkd_sd_prediction_from_metadata(const vkd_safetensors* f, vkd_sd_prediction* out);
// Compares the fields shapes determine (channels, levels, layers, attention placement,
// widths, projection kind, heads when inferable); a mismatch is an error naming the field
// and both values. Used when a folder's config is combined with another file's weights.
vkd_status vkd_sd_arch_check_compatible(const vkd_sd_arch* config, const vkd_sd_arch* inferred, const char* path,
                                        vkd_error* err);

// ---------------------------------------------------------------------------
// Key maps: canonical name -> single-file name.

typedef struct vkd_sd_keymap {
    const vkd_sd_arch* arch;
    vkd_sd_text_layout text_layout;
    // Component prefixes; NULL = "model.diffusion_model.", "first_stage_model.",
    // "cond_stage_model.transformer.text_model." (HF) or "cond_stage_model.model." (OpenCLIP).
    const char* unet_prefix;
    const char* vae_prefix;
    const char* text_prefix;
} vkd_sd_keymap;

// A keymap for file f: its text layout and, for SD1, whether the text model sits under
// "cond_stage_model.transformer.text_model." or the older "cond_stage_model.transformer.".
void vkd_sd_keymap_for_file(vkd_sd_keymap* km, const vkd_sd_arch* arch, const vkd_safetensors* f);

// UNet names: "down_blocks.1.resnets.0.conv1.weight" -> "model.diffusion_model.input_blocks.4.0.in_layers.2.weight".
// False when the name has no counterpart for this architecture.
bool vkd_sd_unet_key(const vkd_sd_keymap* km, const char* canonical, vkd_param_source* src);
// VAE names: "decoder.up_blocks.0.resnets.1.conv_shortcut.weight" -> "first_stage_model.decoder.up.<L-1>.block.1.nin_shortcut.weight".
bool vkd_sd_vae_key(const vkd_sd_keymap* km, const char* canonical, vkd_param_source* src);
// Text encoder names, with or without the leading "text_model.": identity under the prefix
// (HF), or OpenCLIP names with q/k/v as row blocks of in_proj_weight / in_proj_bias.
bool vkd_sd_text_key(const vkd_sd_keymap* km, const char* canonical, vkd_param_source* src);
// The same as vkd_params_rename_fn callbacks (user = const vkd_sd_keymap*).
bool vkd_sd_rename_unet(const char* canonical, vkd_param_source* src, void* user);
bool vkd_sd_rename_vae(const char* canonical, vkd_param_source* src, void* user);
bool vkd_sd_rename_text(const char* canonical, vkd_param_source* src, void* user);

// ---------------------------------------------------------------------------
// Writing a single file from a diffusers folder (tools/sd_convert).

typedef struct vkd_sd_write_desc {
    vkd_sd_text_layout text_layout;  // HF (SD1 names, default) or OpenCLIP (fused q/k/v)
    bool half;                       // F16 tensors instead of F32
    // __metadata__ prediction_type: the folder's scheduler config unless overridden here.
    const char* prediction;          // NULL = from the folder
} vkd_sd_write_desc;

// Writes <dir>'s unet, vae and text encoder weights (those present) with original names
// to `out_path`: UNet/VAE names from the key maps (VAE mid-attention q/k/v/proj_out as
// [C,C,1,1] convs, as original checkpoints store them), the text encoder in the chosen
// layout. Errors name the file and tensor that could not be mapped.
vkd_status vkd_sd_write_single_file(const char* dir, const char* out_path, const vkd_sd_write_desc* desc,
                                    vkd_error* err);

#ifdef __cplusplus
}
#endif
#endif
