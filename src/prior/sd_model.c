// Stable Diffusion model loading (diffusers folder or original single file); see
// include/vkdream/prior/sd.h.
#define _POSIX_C_SOURCE 200809L
#include "vkdream/prior/sd.h"
#include "vkdream/safetensors.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

static bool is_dir(const char* path) {
    struct stat sb;
    return stat(path, &sb) == 0 && S_ISDIR(sb.st_mode);
}
static bool is_file(const char* path) {
    struct stat sb;
    return stat(path, &sb) == 0 && S_ISREG(sb.st_mode);
}

// Opens <dir>/<sub>/<name>; a missing file says what was looked for.
static vkd_status open_weights(const char* dir, const char* sub, const char* name, vkd_safetensors** f,
                               vkd_error* err) {
    char path[4096];
    snprintf(path, sizeof path, "%s/%s/%s", dir, sub, name);
    if (!is_file(path)) {
        char bin[4096];
        snprintf(bin, sizeof bin, "%s/%s/%s", dir, sub,
                 strstr(name, "diffusion_pytorch_model") ? "diffusion_pytorch_model.bin" : "pytorch_model.bin");
        if (is_file(bin))
            return vkd_error_set(err, VKD_ERR_UNSUPPORTED,
                                 "%s: only .safetensors weights are supported (found %s; convert it with diffusers' "
                                 "save_pretrained(safe_serialization=True))",
                                 path, bin);
        return vkd_error_set(err, VKD_ERR_IO, "%s: missing weights file", path);
    }
    return vkd_safetensors_open(path, f, err);
}

#ifdef VKD_SD_HAVE_CLIP
vkd_status vkd_sd_clip_desc(const vkd_sd_arch* a, vkd_clip_desc* d, vkd_error* err) {
    const vkd_sd_text_arch* t = &a->text;
    if (t->num_heads <= 0)
        return vkd_error_set(err, VKD_ERR_UNSUPPORTED,
                             "text encoder: the number of heads cannot be inferred for width %d (CLIP uses head dim "
                             "64); give the model's text_encoder/config.json (config_dir)",
                             t->hidden_size);
    memset(d, 0, sizeof(*d));
    d->kind = a->version == VKD_SD_VERSION_2 ? VKD_CLIP_OPENCLIP_H : VKD_CLIP_HF;
    d->vocab_size = (uint32_t)t->vocab_size;
    d->hidden_size = (uint32_t)t->hidden_size;
    d->intermediate_size = (uint32_t)t->intermediate_size;
    d->num_layers = (uint32_t)t->num_layers;
    d->num_heads = (uint32_t)t->num_heads;
    d->max_positions = (uint32_t)t->max_positions;
    d->act = t->act == VKD_SD_ACT_GELU ? VKD_CLIP_ACT_GELU : VKD_CLIP_ACT_QUICK_GELU;
    d->layer_norm_eps = t->layer_norm_eps;
    // transformers' pooling rule: the legacy argmax when the config's eos id is 2.
    d->pool = t->eos_id == 2 ? VKD_CLIP_POOL_ARGMAX : VKD_CLIP_POOL_EOS_ID;
    d->bos_token_id = t->bos_id;
    d->eos_token_id = t->eos_id;
    d->pad_token_id = t->pad_id;
    // The arch already leaves out OpenCLIP's unused last block: condition on the last layer.
    d->cond_layer = (uint32_t)t->num_layers;
    return VKD_OK;
}
#endif

#ifdef VKD_SD_HAVE_VAE
void vkd_sd_vae_desc(const vkd_sd_vae_arch* a, vkd_vae_desc* d) {
    memset(d, 0, sizeof(*d));
    d->in_channels = (uint32_t)a->in_channels;
    d->out_channels = (uint32_t)a->out_channels;
    d->latent_channels = (uint32_t)a->latent_channels;
    d->num_blocks = (uint32_t)a->levels;
    for (int i = 0; i < a->levels; i++) d->block_out_channels[i] = (uint32_t)a->block_out_channels[i];
    d->layers_per_block = (uint32_t)a->layers_per_block;
    d->norm_num_groups = (uint32_t)a->norm_num_groups;
    d->sample_size = (uint32_t)a->sample_size;
    d->scaling_factor = a->scaling_factor;
    d->no_mid_attention = !a->mid_attn;
}
#endif

#ifdef VKD_SD_HAVE_UNET
void vkd_sd_unet_desc(const vkd_sd_unet_arch* a, vkd_unet_desc* d) {
    memset(d, 0, sizeof(*d));
    d->in_channels = (uint32_t)a->in_channels;
    d->out_channels = (uint32_t)a->out_channels;
    d->sample_size = (uint32_t)a->sample_size;
    d->num_blocks = (uint32_t)a->levels;
    for (int i = 0; i < a->levels && i < VKD_UNET_MAX_BLOCKS; i++) {
        d->block_out_channels[i] = (uint32_t)a->block_out_channels[i];
        d->cross_down[i] = a->down_attn[i];
        d->cross_up[i] = a->up_attn[i];
        d->heads[i] = (uint32_t)a->heads[i];
    }
    d->mid_cross = a->mid_attn;
    d->layers_per_block = (uint32_t)a->layers_per_block;
    d->cross_attention_dim = (uint32_t)a->cross_attention_dim;
    d->linear_projection = a->use_linear_projection;
    d->norm_groups = (uint32_t)a->norm_num_groups;
    d->norm_eps = a->norm_eps;
    d->flip_sin_to_cos = a->flip_sin_to_cos;
    d->freq_shift = a->freq_shift;
    d->class_embed_dim = a->class_embed == VKD_SD_CLASS_EMBED_NONE ? 0 : (uint32_t)a->class_embed_input_dim;
}
#endif

#ifdef VKD_SD_HAVE_SCHEDULER
void vkd_sd_scheduler_desc(const vkd_sd_sched_arch* a, vkd_scheduler_desc* d) {
    memset(d, 0, sizeof(*d));
    d->num_train_timesteps = (uint32_t)a->num_train_timesteps;
    d->beta_start = a->beta_start;
    d->beta_end = a->beta_end;
    d->beta_schedule = a->beta_schedule == VKD_SD_BETA_LINEAR          ? VKD_BETAS_LINEAR
                       : a->beta_schedule == VKD_SD_BETA_SQUAREDCOS_CAP_V2 ? VKD_BETAS_SQUAREDCOS_CAP_V2
                                                                           : VKD_BETAS_SCALED_LINEAR;
    d->prediction_type = a->prediction == VKD_SD_PREDICTION_V        ? VKD_PREDICT_V
                         : a->prediction == VKD_SD_PREDICTION_SAMPLE ? VKD_PREDICT_SAMPLE
                                                                     : VKD_PREDICT_EPSILON;
    d->timestep_spacing = a->timestep_spacing == VKD_SD_SPACING_TRAILING   ? VKD_SPACING_TRAILING
                          : a->timestep_spacing == VKD_SD_SPACING_LINSPACE ? VKD_SPACING_LINSPACE
                                                                           : VKD_SPACING_LEADING;
    d->steps_offset = a->steps_offset;
    d->clip_sample = a->clip_sample;
}
#endif

// Loads one component's declared set from its file: identity names for folders, the key
// map for single files.
static vkd_status load_set(vkd_sd_model* m, vkd_params* p, const vkd_safetensors* f, vkd_params_rename_fn rename,
                           bool grad, bool f16, vkd_gpu* gpu, const char* what, vkd_error* err) {
    p->f16 = f16 && !grad;  // sets with gradients (check-prior, training) stay fp32
    vkd_status st = vkd_params_alloc(gpu, p, grad, err);
    if (st) return vkd_error_prefix(err, "%s: ", what);
    vkd_params_load_desc ld = {0};
    if (m->single_file) {
        ld.rename = rename;
        ld.user = &m->keymap;
    }
    st = vkd_params_load(p, f, &ld, err);
    if (st) return vkd_error_prefix(err, "loading the %s: ", what);
    return VKD_OK;
}

static vkd_status missing_component(const char* path, const char* what, const char* prefix, vkd_error* err) {
    return vkd_error_set(err, VKD_ERR_INVALID, "%s: the configuration has a %s but the file has no '%s*' tensors",
                         path, what, prefix);
}

vkd_status vkd_sd_load(vkd_gpu* gpu, const char* path, const vkd_sd_load_desc* desc, vkd_sd_model** out,
                       vkd_error* err) {
    *out = NULL;
    vkd_sd_load_desc d = desc ? *desc : (vkd_sd_load_desc){0};
    vkd_sd_prediction pred_override = VKD_SD_PREDICTION_EPSILON;
    if (d.prediction && !vkd_sd_prediction_parse(d.prediction, &pred_override))
        return vkd_error_set(err, VKD_ERR_INVALID, "unknown prediction type '%s' (epsilon, v or sample)", d.prediction);
    vkd_sd_model* m = calloc(1, sizeof(*m));
    if (!m) return vkd_error_set(err, VKD_ERR_OUT_OF_MEMORY, "out of host memory");
    snprintf(m->source, sizeof m->source, "%s", path);
    vkd_status st = VKD_OK;
    vkd_safetensors* single = NULL;
    vkd_safetensors* files[3] = {0};  // text, unet, vae (folders)
    const char* cfg_dir = NULL;       // where the module configs come from, or NULL (inferred)

    if (is_dir(path)) {
        cfg_dir = path;
        st = vkd_sd_arch_load_dir(&m->arch, path, err);
    } else {
        m->single_file = true;
        st = vkd_safetensors_open(path, &single, err);
        vkd_sd_arch inferred;
        if (!st) st = vkd_sd_arch_infer(&inferred, single, d.prediction ? pred_override : VKD_SD_PREDICTION_EPSILON, err);
        if (!st && d.config_dir) {
            cfg_dir = d.config_dir;
            st = vkd_sd_arch_load_dir(&m->arch, d.config_dir, err);
            if (!st) st = vkd_sd_arch_check_compatible(&m->arch, &inferred, path, err);
            if (!st && m->arch.has_unet && !inferred.has_unet && !d.no_unet)
                st = missing_component(path, "UNet", "model.diffusion_model.", err);
            if (!st && m->arch.has_vae && !inferred.has_vae && !d.no_vae)
                st = missing_component(path, "VAE", "first_stage_model.", err);
            if (!st && m->arch.has_text && !inferred.has_text && !d.no_text)
                st = missing_component(path, "text encoder", "cond_stage_model.", err);
            // The scheduler config wins unless the file says otherwise in its metadata.
            vkd_sd_prediction meta;
            if (!st && vkd_sd_prediction_from_metadata(single, &meta)) m->arch.sched.prediction = meta;
        } else if (!st) {
            m->arch = inferred;
        }
        if (!st) vkd_sd_keymap_for_file(&m->keymap, &m->arch, single);
    }
    if (!st && d.prediction) m->arch.sched.prediction = pred_override;
    if (d.no_text) m->arch.has_text = false;
    if (d.no_unet) m->arch.has_unet = false;
    if (d.no_vae) m->arch.has_vae = false;
    char cpath[4096];

    // Text encoder.
    if (!st && m->arch.has_text) {
#ifdef VKD_SD_HAVE_CLIP
        vkd_clip_desc cd = {0};
        if (cfg_dir) {
            snprintf(cpath, sizeof cpath, "%s/text_encoder/config.json", cfg_dir);
            st = vkd_clip_config_load(cpath, &cd, err);
        } else {
            st = vkd_sd_clip_desc(&m->arch, &cd, err);
        }
        if (!st) st = vkd_clip_declare(&m->clip, &m->text_p, NULL, &cd, err);
        if (!st && !single) st = open_weights(path, "text_encoder", "model.safetensors", &files[0], err);
        if (!st)
            st = load_set(m, &m->text_p, single ? single : files[0], vkd_sd_rename_text, false, d.f16, gpu, "text encoder",
                          err);
#else
        st = vkd_error_set(err, VKD_ERR_UNSUPPORTED, "%s: this build has no CLIP text encoder", path);
#endif
    }

    // UNet.
    if (!st && m->arch.has_unet) {
#ifdef VKD_SD_HAVE_UNET
        vkd_unet_desc ud = {0};
        if (cfg_dir) {
            snprintf(cpath, sizeof cpath, "%s/unet/config.json", cfg_dir);
            st = vkd_unet_config_load(cpath, &ud, err);
        } else {
            vkd_sd_unet_desc(&m->arch.unet, &ud);
        }
        // A class embedding (VSD's camera) is trained, not loaded: leave it out of the base model.
        ud.class_embed_dim = 0;
        if (!st) st = vkd_unet_declare(&m->unet, &m->unet_p, NULL, "", &ud, err);
        if (!st && !single) st = open_weights(path, "unet", "diffusion_pytorch_model.safetensors", &files[1], err);
        if (!st)
            st = load_set(m, &m->unet_p, single ? single : files[1], vkd_sd_rename_unet, d.unet_grad, d.f16, gpu, "UNet",
                          err);
#else
        st = vkd_error_set(err, VKD_ERR_UNSUPPORTED, "%s: this build has no UNet (load with no_unet)", path);
#endif
    }

    // VAE.
    if (!st && m->arch.has_vae) {
#ifdef VKD_SD_HAVE_VAE
        vkd_vae_desc vd = {0};
        if (cfg_dir) {
            snprintf(cpath, sizeof cpath, "%s/vae/config.json", cfg_dir);
            st = vkd_vae_config_load(cpath, &vd, err);
        } else {
            vkd_sd_vae_desc(&m->arch.vae, &vd);
        }
        if (!st) st = vkd_vae_declare(&m->vae, &m->vae_p, "", &vd, err);
        if (!st && !single) st = open_weights(path, "vae", "diffusion_pytorch_model.safetensors", &files[2], err);
        if (!st)
            st = load_set(m, &m->vae_p, single ? single : files[2], vkd_sd_rename_vae, d.vae_grad, d.f16, gpu, "VAE", err);
#else
        st = vkd_error_set(err, VKD_ERR_UNSUPPORTED, "%s: this build has no VAE", path);
#endif
    }

#ifdef VKD_SD_HAVE_SCHEDULER
    if (!st) {
        vkd_scheduler_desc sd;
        vkd_sd_scheduler_desc(&m->arch.sched, &sd);
        if (cfg_dir) {
            snprintf(cpath, sizeof cpath, "%s/scheduler/scheduler_config.json", cfg_dir);
            if (is_file(cpath)) st = vkd_scheduler_config_load(cpath, &sd, err);
        }
        // The single file's metadata or the caller's override.
        if (!st && (d.prediction || m->single_file)) {
            vkd_scheduler_desc pd;
            vkd_sd_scheduler_desc(&m->arch.sched, &pd);
            sd.prediction_type = pd.prediction_type;
        }
        if (!st) st = vkd_scheduler_init(&m->sched, &sd, gpu, err);
        if (!st) m->has_sched = true;
    }
#endif

#ifdef VKD_SD_HAVE_TOKENIZER
    if (!st) {
        char tdir[4096];
        const char* tok_dir = d.tokenizer_dir;
        if (!tok_dir && !m->single_file) {
            snprintf(tdir, sizeof tdir, "%s/tokenizer", path);
            if (is_dir(tdir)) tok_dir = tdir;
        }
        if (tok_dir) st = vkd_tokenizer_load_dir(tok_dir, &m->tok, err);
    }
#endif

    if (single) vkd_safetensors_close(single);
    for (int i = 0; i < 3; i++)
        if (files[i]) vkd_safetensors_close(files[i]);
    if (st) {
        vkd_sd_free(m);
        return st;
    }
    *out = m;
    return VKD_OK;
}

void vkd_sd_free(vkd_sd_model* m) {
    if (!m) return;
    vkd_params_free(&m->text_p);
    vkd_params_free(&m->unet_p);
    vkd_params_free(&m->vae_p);
#ifdef VKD_SD_HAVE_TOKENIZER
    if (m->tok) vkd_tokenizer_free(m->tok);
#endif
#ifdef VKD_SD_HAVE_SCHEDULER
    if (m->has_sched) vkd_scheduler_free(&m->sched);
#endif
    free(m);
}
