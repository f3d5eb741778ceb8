// Scene files: every setting of a `vkdream generate` run, as an INI file (scenes/*.ini),
// overridable by command-line flags, and written back resolved so a run can be reproduced.
//
// One table (scene.c) lists every key with its section, type, default, range or allowed
// values and a one-line help: the parser, the flag overrides, `generate --help` and the
// writer all read that table, so a key cannot exist in one place and not another.
#ifndef VKD_APP_SCENE_H
#define VKD_APP_SCENE_H

#include "vkdream/base.h"

#include <stdio.h>

#define VKD_SCENE_STR 512

typedef struct vkd_scene {
    // [run]
    char prompt[VKD_SCENE_STR];
    char negative_prompt[VKD_SCENE_STR];
    char method[16];        // sds | vsd | bsd | asd
    char repr[16];          // gaussians | nerf
    int steps;
    int seed;
    // [prior]
    char model[VKD_SCENE_STR];  // "builtin", a diffusers folder, or a single .safetensors file
    char tokenizer[VKD_SCENE_STR]; // tokenizer folder for single-file models ("" = next to the model)
    char prediction[16];    // auto | epsilon | v_prediction
    char precision[8];      // auto | f32 | f16: weight storage of the prior's frozen sets
    float guidance_scale;
    float t_min, t_max;     // fractions of the 1000 training steps
    char t_schedule[16];    // uniform | anneal | step | sqrt
    float t_anneal_max;     // t_max after the anneal
    int t_anneal_steps;     // over how many steps (anneal, sqrt) or at which step (step)
    char weighting[16];     // sds (1 - abar) | uniform | sqrt_abar
    float grad_clip;        // 0 = off
    float grad_clip_end;    // scheduled clip: value at the last step (0 = constant)
    bool view_dependent;
    bool latent;            // latent-space prior through the VAE encoder (SD); pixel space otherwise
    // [method]
    float bsd_lambda;       // BSD lambda_guidance k
    char bsd_variant[16];   // standard | auto
    float asd_eta;
    int vsd_lora_rank;
    float vsd_lora_lr;
    float vsd_guidance_scale;
    float vsd_camera_drop;
    // [render]
    int width, height;      // final render resolution
    int res_start;          // progressive resolution: start (0 = fixed at width)
    int res_ramp_steps;
    int batch;
    float elevation_min, elevation_max; // degrees
    float azimuth_min, azimuth_max;
    float distance_min, distance_max;
    float fov_min, fov_max; // vertical field of view, degrees
    float background[3];
    char shading[16];       // albedo | lambertian | textureless | mixed
    // [gaussians]
    int gs_points;
    float gs_radius;
    int gs_sh_degree;
    float gs_lr_position, gs_lr_scale, gs_lr_rotation, gs_lr_opacity, gs_lr_color;
    int gs_densify_from, gs_densify_until, gs_densify_every;
    float gs_densify_grad;
    float gs_prune_opacity;
    int gs_opacity_reset_every;
    // [nerf]
    int nerf_log2_table;
    int nerf_levels;
    float nerf_radius;
    int nerf_samples;
    float nerf_lr_grid, nerf_lr_mlp;
    float nerf_opacity_weight, nerf_orientation_weight, nerf_entropy_weight;
    // [output]
    char out[VKD_SCENE_STR];
    int preview_every;
    int checkpoint_every;
    int turntable_frames;
    bool export_mesh;
    char mesh_format[8];    // obj | ply | glb
    int mesh_faces;         // decimate the exported mesh to this many triangles (0 = keep all)
} vkd_scene;

// The defaults of a method x representation (DreamGaussian-style SDS on Gaussians by default).
void vkd_scene_defaults(vkd_scene* sc);
// Reads an INI file over sc. Unknown sections or keys and bad values are errors naming the
// file, line, key and the allowed values or range.
vkd_status vkd_scene_load(vkd_scene* sc, const char* path, vkd_error* err);
// Same, from a string (name is used in messages).
vkd_status vkd_scene_load_string(vkd_scene* sc, const char* text, const char* name, vkd_error* err);
// Sets one key by "section.key" or, where unique, "key" (as given by a flag --key value).
// *known is false when no such key exists (then it is not an error: the caller may try other flags).
vkd_status vkd_scene_set(vkd_scene* sc, const char* key, const char* value, bool* known, vkd_error* err);
// Checks cross-key rules (ranges that must be ordered, sizes that must agree).
vkd_status vkd_scene_validate(const vkd_scene* sc, vkd_error* err);
// Writes every key (the resolved settings) as an INI file that reproduces the run.
vkd_status vkd_scene_write(const vkd_scene* sc, const char* path, vkd_error* err);
void vkd_scene_print(const vkd_scene* sc, FILE* f);
// Lists every key: section, name, type, default, allowed values, help.
void vkd_scene_help(FILE* f);

#endif
