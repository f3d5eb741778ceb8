// Pieces of `vkdream generate` shared with other commands (batch, viewer, export).
#ifndef VKD_APP_GENERATE_H
#define VKD_APP_GENERATE_H

#include "app/scene.h"
#include "vkdream/distill.h"
#include "vkdream/prior.h"

// Opens the prior a scene names in prior.model: "builtin" (the shipped model under assets/),
// a diffusers folder or a single-file .safetensors Stable Diffusion checkpoint.
vkd_status vkd_generate_open_model(vkd_gpu* gpu, const vkd_scene* sc, vkd_prior** out, vkd_error* err);
// Where the built-in prior lives: $VKD_ASSETS/builtin, else <exe dir>/../assets/builtin, else the
// source tree's assets/builtin. Returns false (path = the last candidate) when none exists.
bool vkd_builtin_prior_path(char* path, size_t cap);
// Exports the asset as a mesh into out_dir when the scene asks for it (output.export_mesh).
vkd_status vkd_generate_export_mesh(vkd_gpu* gpu, vkd_stream* s, const vkd_scene* sc, vkd_repr* repr,
                                    const char* out_dir, vkd_error* err);

#endif
