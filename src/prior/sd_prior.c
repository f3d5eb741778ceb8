// Stable Diffusion / the built-in prior as a distillation prior; see
// include/vkdream/prior/sd_prior.h.
#define _POSIX_C_SOURCE 200809L
#include "vkdream/prior/sd_prior.h"
#include "vkdream/nn/adam.h"
#include "vkdream/nn/arena.h"
#include "vkdream/nn/eltwise.h"
#include "vkdream/nn/params.h"
#include "vkdream/nn/reduce.h"
#include "vkdream/prior/clip.h"
#include "vkdream/prior/sd.h"
#include "vkdream/prior/unet_cond.h"
#include "vkdream/prior/vae.h"
#include "vkdream/safetensors.h"
#include "vkdream/tokenizer.h"

#include <cjson/cJSON.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

typedef struct sd_prior {
    vkd_prior base;
    vkd_gpu* gpu;
    char name[96];
    vkd_tokenizer* tok;
    bool fold_ids;
    vkd_clip clip;
    vkd_params text_p;
    vkd_unet unet;
    vkd_params unet_p;
    bool latent;
    vkd_vae vae;
    vkd_params vae_p;
    float scaling;
    uint32_t T, D;              // condition length and width
    vkd_arena pred_arena, enc_arena;
    vkd_buffer tsbuf;           // per-sample timesteps (floats)
    uint32_t tscap;
    // The latest encode, for encode_backward.
    vkd_vae_encode_saved enc_saved;
    vkd_addr moments;
    uint32_t eB, eH, eW;
} sd_prior;

struct vkd_prior_cond {
    vkd_buffer emb;  // (1, T, D)
};

static bool exists(const char* path) {
    struct stat st;
    return !stat(path, &st);
}

// ---------------------------------------------------------------------------
// Loading

static vkd_status load_params(vkd_gpu* gpu, vkd_params* p, const char* path, bool f16, vkd_error* err) {
    vkd_safetensors* f = NULL;
    vkd_status st = vkd_safetensors_open(path, &f, err);
    p->f16 = f16;
    if (!st) st = vkd_params_alloc(gpu, p, false, err);
    if (!st) st = vkd_params_load(p, f, NULL, err);
    if (f) vkd_safetensors_close(f);
    return st;
}

// scheduler/scheduler_config.json: the training schedule and the prediction type.
static vkd_status load_schedule(sd_prior* sp, const char* folder, const char* prediction, vkd_error* err) {
    char path[4200];
    snprintf(path, sizeof path, "%s/scheduler/scheduler_config.json", folder);
    double b0 = 0.00085, b1 = 0.012;
    uint32_t T = 1000;
    vkd_beta_schedule kind = VKD_BETA_SCALED_LINEAR;
    const char* pred = prediction;
    char pred_buf[32] = "epsilon";
    FILE* f = fopen(path, "rb");
    if (f) {
        char buf[8192];
        size_t n = fread(buf, 1, sizeof buf - 1, f);
        fclose(f);
        buf[n] = 0;
        cJSON* root = cJSON_Parse(buf);
        if (!root) return vkd_error_set(err, VKD_ERR_INVALID, "%s: not valid JSON", path);
        const cJSON* v;
        if ((v = cJSON_GetObjectItemCaseSensitive(root, "beta_start")) && cJSON_IsNumber(v)) b0 = v->valuedouble;
        if ((v = cJSON_GetObjectItemCaseSensitive(root, "beta_end")) && cJSON_IsNumber(v)) b1 = v->valuedouble;
        if ((v = cJSON_GetObjectItemCaseSensitive(root, "num_train_timesteps")) && cJSON_IsNumber(v))
            T = (uint32_t)v->valuedouble;
        if ((v = cJSON_GetObjectItemCaseSensitive(root, "beta_schedule")) && cJSON_IsString(v)) {
            if (!strcmp(v->valuestring, "linear")) kind = VKD_BETA_LINEAR;
            else if (strcmp(v->valuestring, "scaled_linear")) {
                vkd_status st = vkd_error_set(err, VKD_ERR_UNSUPPORTED, "%s: beta_schedule '%s': expected linear or "
                                              "scaled_linear", path, v->valuestring);
                cJSON_Delete(root);
                return st;
            }
        }
        if ((v = cJSON_GetObjectItemCaseSensitive(root, "prediction_type")) && cJSON_IsString(v))
            snprintf(pred_buf, sizeof pred_buf, "%s", v->valuestring);
        cJSON_Delete(root);
    }
    if (!pred) pred = pred_buf;
    if (!strcmp(pred, "epsilon")) sp->base.prediction = VKD_PRED_EPSILON;
    else if (!strcmp(pred, "v_prediction") || !strcmp(pred, "v")) sp->base.prediction = VKD_PRED_V;
    else if (!strcmp(pred, "sample")) sp->base.prediction = VKD_PRED_SAMPLE;
    else return vkd_error_set(err, VKD_ERR_INVALID, "prediction type '%s': expected epsilon, v_prediction or sample", pred);
    if (T > VKD_PRIOR_MAX_TIMESTEPS) return vkd_error_set(err, VKD_ERR_UNSUPPORTED, "%s: %u timesteps", path, T);
    sp->base.num_timesteps = T;
    return vkd_prior_schedule(sp->base.alphas_cumprod, T, kind, b0, b1, err);
}

// ---------------------------------------------------------------------------
// Conditions

static vkd_status sd_encode_prompt(vkd_prior* base, vkd_stream* s, const char* text, vkd_prior_cond** out,
                                   vkd_error* err) {
    (void)s;
    sd_prior* sp = base->impl;
    int32_t ids[512];
    int n = 0;
    bool truncated = false;
    vkd_status st = vkd_tokenizer_encode_padded(sp->tok, text, ids, &n, &truncated, err);
    if (st) return st;
    if (truncated) {
        char msg[512];
        vkd_tokenizer_truncation_message(sp->tok, text, msg, sizeof msg);
        fprintf(stderr, "vkdream: warning: prompt longer than %u tokens: %s\n", sp->T, msg);
    }
    if (sp->fold_ids)
        for (uint32_t i = 0; i < sp->T; i++) ids[i] = ids[i] % (int32_t)sp->clip.d.vocab_size;
    vkd_prior_cond* c = calloc(1, sizeof *c);
    if (!c) return vkd_error_set(err, VKD_ERR_OUT_OF_MEMORY, "out of host memory");
    st = vkd_buffer_alloc(sp->gpu, (size_t)sp->T * sp->D * sizeof(float), &c->emb, err);
    if (!st) st = vkd_clip_encode(&sp->clip, &sp->text_p, &sp->pred_arena, c->emb.addr, 0, ids, 1, sp->T, 0, err);
    if (st) {
        if (c->emb.addr) vkd_buffer_free(sp->gpu, &c->emb);
        free(c);
        return vkd_error_prefix(err, "prompt \"%s\": ", text);
    }
    *out = c;
    return VKD_OK;
}

static void sd_cond_free(vkd_prior* base, vkd_prior_cond* c) {
    sd_prior* sp = base->impl;
    if (c->emb.addr) vkd_buffer_free(sp->gpu, &c->emb);
    free(c);
}

// ---------------------------------------------------------------------------
// Predictions

// Submits s (the previous use of the scratch is then done), resets the arena and uploads t.
static vkd_status begin_batch(sd_prior* sp, vkd_stream* s, const int32_t* t, uint32_t B, vkd_error* err) {
    vkd_status st = vkd_stream_submit(s, err);
    if (st) return st;
    vkd_arena_reset(&sp->pred_arena);
    vkd_arena_compact(&sp->pred_arena);  // one chunk of the first steps' peak from now on
    if (B > sp->tscap) {
        if (sp->tsbuf.addr) vkd_buffer_free(sp->gpu, &sp->tsbuf);
        if ((st = vkd_buffer_alloc(sp->gpu, (size_t)B * sizeof(float), &sp->tsbuf, err))) return st;
        sp->tscap = B;
    }
    float tf[256];
    if (B > 256) return vkd_error_set(err, VKD_ERR_INVALID, "sd prior: batch %u > 256", B);
    for (uint32_t b = 0; b < B; b++) tf[b] = (float)t[b];
    return vkd_buffer_upload(sp->gpu, &sp->tsbuf, 0, tf, B * sizeof(float), err);
}

static vkd_status sd_predict(vkd_prior* base, vkd_stream* s, vkd_addr out, vkd_addr z_t, const int32_t* t,
                             vkd_prior_cond* const* conds, const float* c2w, uint32_t B, uint32_t h, uint32_t w,
                             vkd_error* err) {
    (void)c2w;  // text-only model
    sd_prior* sp = base->impl;
    vkd_status st = begin_batch(sp, s, t, B, err);
    if (st) return st;
    uint64_t per = (uint64_t)sp->T * sp->D;
    vkd_addr ctx = vkd_arena_alloc(&sp->pred_arena, s, per * B);
    for (uint32_t b = 0; b < B && ctx; b++) vkd_stream_copy(s, ctx + per * b * 4, conds[b]->emb.addr, (uint32_t)per);
    vkd_unet_forward(&sp->unet, &sp->unet_p, NULL, s, &sp->pred_arena, out, z_t, sp->tsbuf.addr, ctx, 0, B, h, w, sp->T,
                     NULL, NULL);
    return VKD_OK;
}

// ---------------------------------------------------------------------------
// The VAE (latent models)

static vkd_status sd_encode(vkd_prior* base, vkd_stream* s, vkd_addr z, vkd_addr image, uint32_t B, uint32_t H,
                            uint32_t W, vkd_error* err) {
    sd_prior* sp = base->impl;
    vkd_status st = vkd_stream_submit(s, err);  // the previous encode's scratch is free afterwards
    if (st) return st;
    vkd_arena_reset(&sp->enc_arena);
    vkd_arena_compact(&sp->enc_arena);
    vkd_arena* a = &sp->enc_arena;
    uint32_t h, w, L = sp->vae.d.latent_channels;
    vkd_vae_latent_size(&sp->vae, H, W, &h, &w);
    uint64_t n = (uint64_t)B * 3 * H * W;
    vkd_addr x = vkd_arena_alloc(a, s, n);
    sp->moments = vkd_arena_alloc(a, s, (uint64_t)B * 2 * L * h * w);
    vkd_addr mean = vkd_arena_alloc(a, s, (uint64_t)B * L * h * w);
    if (!mean) return VKD_OK;  // the stream has the error
    vkd_scale_forward(s, x, image, (uint32_t)n, 2.0f, -1.0f);
    vkd_vae_encode_forward(&sp->vae, &sp->vae_p, s, a, sp->moments, x, B, H, W, &sp->enc_saved);
    vkd_vae_posterior_forward(s, mean, 0, 0, 0, sp->moments, 0, B, L, h * w);
    vkd_scale_forward(s, z, mean, (uint32_t)(B * L * h * w), sp->scaling, 0.0f);
    sp->eB = B, sp->eH = H, sp->eW = W;
    return VKD_OK;
}

static vkd_status sd_encode_backward(vkd_prior* base, vkd_stream* s, vkd_addr dimage, vkd_addr dz, uint32_t B,
                                     uint32_t H, uint32_t W, vkd_error* err) {
    sd_prior* sp = base->impl;
    if (B != sp->eB || H != sp->eH || W != sp->eW)
        return vkd_error_set(err, VKD_ERR_INVALID, "sd prior: encode backward of %ux%ux%u after an encode of %ux%ux%u",
                             B, H, W, sp->eB, sp->eH, sp->eW);
    vkd_arena* a = &sp->enc_arena;
    vkd_arena_mark mark = vkd_arena_push(a);
    uint32_t h, w, L = sp->vae.d.latent_channels;
    vkd_vae_latent_size(&sp->vae, H, W, &h, &w);
    uint64_t nz = (uint64_t)B * L * h * w, n = (uint64_t)B * 3 * H * W;
    vkd_addr dmean = vkd_arena_zeros(a, s, nz), dmom = vkd_arena_zeros(a, s, 2 * nz), dx = vkd_arena_zeros(a, s, n);
    if (dx) {
        vkd_scale_backward(s, dmean, dz, (uint32_t)nz, sp->scaling);
        vkd_vae_posterior_backward(s, dmom, dmean, 0, 0, 0, sp->moments, 0, B, L, h * w);
        vkd_vae_encode_backward(&sp->vae, &sp->vae_p, s, a, dx, dmom, &sp->enc_saved);
        vkd_scale_backward(s, dimage, dx, (uint32_t)n, 2.0f);
    }
    vkd_arena_pop(a, mark);
    return VKD_OK;
}

static vkd_status sd_decode(vkd_prior* base, vkd_stream* s, vkd_addr image, vkd_addr z, uint32_t B, uint32_t h,
                            uint32_t w, vkd_error* err) {
    sd_prior* sp = base->impl;
    vkd_status st = vkd_stream_submit(s, err);
    if (st) return st;
    vkd_arena_reset(&sp->pred_arena);
    vkd_arena_compact(&sp->pred_arena);
    uint32_t L = sp->vae.d.latent_channels, f = sp->base.downsample;
    uint64_t nz = (uint64_t)B * L * h * w, n = (uint64_t)B * 3 * h * f * w * f;
    vkd_addr lat = vkd_arena_alloc(&sp->pred_arena, s, nz);
    if (!lat) return VKD_OK;
    vkd_scale_forward(s, lat, z, (uint32_t)nz, 1.0f / sp->scaling, 0.0f);
    vkd_vae_decode_forward(&sp->vae, &sp->vae_p, s, &sp->pred_arena, image, lat, B, h, w, NULL);
    vkd_scale_forward(s, image, image, (uint32_t)n, 0.5f, 0.5f);
    return VKD_OK;
}

// ---------------------------------------------------------------------------
// VSD's phi: the same UNet with LoRA on every attention projection and a camera embedding,
// trained by AdamW on the denoising loss of detached samples.

typedef struct sd_phi {
    vkd_prior_phi base;
    sd_prior* sp;
    vkd_unet unet;     // the base UNet's config with lora_rank and class_embed_dim 16
    vkd_params lora;
    vkd_arena arena;
    vkd_buffer cam;    // (B, 16)
    uint32_t camcap;
    vkd_prior_phi_desc d;
    uint32_t step;
} sd_phi;

static vkd_status phi_upload_cams(sd_phi* ph, const float* c2w, uint32_t B, vkd_error* err) {
    if (B > ph->camcap) {
        if (ph->cam.addr) vkd_buffer_free(ph->sp->gpu, &ph->cam);
        vkd_status st = vkd_buffer_alloc(ph->sp->gpu, (size_t)B * 16 * sizeof(float), &ph->cam, err);
        if (st) return st;
        ph->camcap = B;
    }
    float zeros[16 * 64] = {0};
    if (B > 64) return vkd_error_set(err, VKD_ERR_INVALID, "phi: batch %u > 64", B);
    return vkd_buffer_upload(ph->sp->gpu, &ph->cam, 0, c2w ? c2w : zeros, (size_t)B * 16 * sizeof(float), err);
}

static vkd_addr phi_ctx(sd_phi* ph, vkd_stream* s, vkd_prior_cond* const* conds, uint32_t B) {
    uint64_t per = (uint64_t)ph->sp->T * ph->sp->D;
    vkd_addr ctx = vkd_arena_alloc(&ph->arena, s, per * B);
    for (uint32_t b = 0; b < B && ctx; b++) vkd_stream_copy(s, ctx + per * b * 4, conds[b]->emb.addr, (uint32_t)per);
    return ctx;
}

static vkd_status phi_predict(vkd_prior_phi* base, vkd_stream* s, vkd_addr out, vkd_addr z_t, const int32_t* t,
                              vkd_prior_cond* const* conds, const float* c2w, uint32_t B, uint32_t h, uint32_t w,
                              vkd_error* err) {
    sd_phi* ph = base->impl;
    vkd_status st = begin_batch(ph->sp, s, t, B, err);
    if (!st) st = phi_upload_cams(ph, c2w, B, err);
    if (st) return st;
    vkd_arena_reset(&ph->arena);
    vkd_addr ctx = phi_ctx(ph, s, conds, B);
    vkd_unet_forward(&ph->unet, &ph->sp->unet_p, &ph->lora, s, &ph->arena, out, z_t, ph->sp->tsbuf.addr, ctx,
                     ph->cam.addr, B, h, w, ph->sp->T, NULL, NULL);
    return VKD_OK;
}

static vkd_status phi_train_step(vkd_prior_phi* base, vkd_stream* s, vkd_addr z, vkd_addr noise, const int32_t* t,
                                 vkd_prior_cond* const* conds, const float* c2w, uint32_t B, uint32_t h, uint32_t w,
                                 vkd_addr loss, vkd_error* err) {
    sd_phi* ph = base->impl;
    sd_prior* sp = ph->sp;
    vkd_status st = begin_batch(sp, s, t, B, err);
    if (!st) st = phi_upload_cams(ph, c2w, B, err);
    if (st) return st;
    vkd_arena_reset(&ph->arena);
    vkd_arena* a = &ph->arena;
    uint32_t C = sp->base.channels, D = C * h * w;
    uint64_t n = (uint64_t)B * D;
    vkd_addr zt = vkd_arena_alloc(a, s, n), pred = vkd_arena_alloc(a, s, n), target = vkd_arena_alloc(a, s, n);
    vkd_addr dpred = vkd_arena_zeros(a, s, n);
    vkd_addr ctx = phi_ctx(ph, s, conds, B);
    if (!ctx || !dpred) return VKD_OK;
    // z_t = sqrt(abar) z + sqrt(1 - abar) noise; target eps (or v, or z) per the prior's type.
    float sa[64], sb[64], va[64], vb[64];
    for (uint32_t b = 0; b < B && b < 64; b++) {
        double abar = sp->base.alphas_cumprod[t[b]];
        sa[b] = (float)sqrt(abar), sb[b] = (float)sqrt(1 - abar);
        // v = sqrt(abar) eps - sqrt(1 - abar) z
        va[b] = sp->base.prediction == VKD_PRED_V ? sa[b] : sp->base.prediction == VKD_PRED_SAMPLE ? 0.0f : 1.0f;
        vb[b] = sp->base.prediction == VKD_PRED_V ? -sb[b] : sp->base.prediction == VKD_PRED_SAMPLE ? 1.0f : 0.0f;
    }
    vkd_prior_axpby(s, zt, z, noise, sa, sb, NULL, B, D, false);
    vkd_prior_axpby(s, target, noise, z, va, vb, NULL, B, D, false);
    vkd_unet_saved* sv = vkd_unet_saved_new();
    if (!sv) return vkd_error_set(err, VKD_ERR_OUT_OF_MEMORY, "phi: out of host memory");
    vkd_unet_forward(&ph->unet, &sp->unet_p, &ph->lora, s, a, pred, zt, sp->tsbuf.addr, ctx, ph->cam.addr, B, h, w,
                     sp->T, sv, NULL);
    vkd_addr one = vkd_arena_alloc(a, s, 1);
    if (!one) return VKD_OK;
    vkd_stream_fill(s, one, 1, 0x3F800000u);  // dL/dloss = 1.0f
    if (loss) {
        vkd_addr scratch = vkd_arena_alloc(a, s, (vkd_sum_scratch_bytes((uint32_t)n) + 3) / 4);
        vkd_mse_loss_forward(s, loss, scratch, pred, target, (uint32_t)n);
    }
    vkd_mse_loss_backward(s, dpred, 0, one, pred, target, (uint32_t)n);
    vkd_params_zero_grad(&ph->lora, s);
    vkd_unet_backward(&ph->unet, &sp->unet_p, &ph->lora, s, a, 0, 0, 0, dpred, sv);
    ph->step++;
    vkd_adam_desc ad = {.lr = ph->d.lr > 0 ? ph->d.lr : 1e-4f, .weight_decay = ph->d.weight_decay, .decoupled = true};
    vkd_adam_step(s, ph->lora.data.addr, ph->lora.adam_m.addr, ph->lora.adam_v.addr, ph->lora.grad.addr, 0,
                  (uint32_t)ph->lora.total, ph->step, &ad);
    // The saved state only holds arena addresses; the stream keeps the recorded work.
    st = vkd_stream_submit(s, err);
    vkd_unet_saved_free(sv);
    return st;
}

static void phi_destroy(vkd_prior_phi* base) {
    sd_phi* ph = base->impl;
    vkd_params_free(&ph->lora);
    vkd_arena_free(&ph->arena);
    if (ph->cam.addr) vkd_buffer_free(ph->sp->gpu, &ph->cam);
    free(ph);
}

static const vkd_prior_phi_vtbl phi_vtbl = {.destroy = phi_destroy, .predict = phi_predict, .train_step = phi_train_step};

static vkd_status sd_phi_create(vkd_prior* base, vkd_stream* s, const vkd_prior_phi_desc* desc, vkd_prior_phi** out,
                                vkd_error* err) {
    (void)s;
    sd_prior* sp = base->impl;
    sd_phi* ph = calloc(1, sizeof *ph);
    if (!ph) return vkd_error_set(err, VKD_ERR_OUT_OF_MEMORY, "phi: out of host memory");
    ph->base = (vkd_prior_phi){.vt = &phi_vtbl, .prior = base, .impl = ph};
    ph->sp = sp;
    ph->d = desc ? *desc : (vkd_prior_phi_desc){0};
    ph->arena.gpu = sp->gpu;
    vkd_unet_desc ud = sp->unet.d;
    ud.lora_rank = ph->d.lora_rank ? ph->d.lora_rank : 4;
    ud.class_embed_dim = 16;
    vkd_params scratch = {0};  // the base names are declared again into a throwaway set
    vkd_status st = vkd_unet_declare(&ph->unet, &scratch, &ph->lora, "", &ud, err);
    vkd_params_free(&scratch);
    if (!st) st = vkd_params_alloc(sp->gpu, &ph->lora, true, err);
    if (!st) st = vkd_params_alloc_adam(&ph->lora, err);
    if (!st) st = vkd_params_init_random(&ph->lora, ph->d.seed + 1, err);
    // Start as the prior: LoRA up-projections and the camera embedding's output layer zero.
    for (uint32_t i = 0; i < ph->lora.count && !st; i++) {
        const vkd_param* q = &ph->lora.items[i];
        if (!strstr(q->name, ".up.weight") && !strstr(q->name, "class_embedding.linear_2")) continue;
        float* z = calloc(q->count, sizeof(float));
        st = z ? vkd_params_upload(&ph->lora, i, z, q->count, err) : VKD_ERR_OUT_OF_MEMORY;
        free(z);
    }
    if (st) {
        phi_destroy(&ph->base);
        return vkd_error_prefix(err, "VSD phi: ");
    }
    *out = &ph->base;
    return VKD_OK;
}

// ---------------------------------------------------------------------------

static void sd_destroy(vkd_prior* base) {
    sd_prior* sp = base->impl;
    if (sp->tok) vkd_tokenizer_free(sp->tok);
    vkd_params_free(&sp->text_p);
    vkd_params_free(&sp->unet_p);
    vkd_params_free(&sp->vae_p);
    vkd_arena_free(&sp->pred_arena);
    vkd_arena_free(&sp->enc_arena);
    if (sp->tsbuf.addr) vkd_buffer_free(sp->gpu, &sp->tsbuf);
    free(sp);
}

static const vkd_prior_vtbl sd_vtbl_latent = {.destroy = sd_destroy, .encode_prompt = sd_encode_prompt,
                                              .cond_free = sd_cond_free, .predict = sd_predict, .encode = sd_encode,
                                              .encode_backward = sd_encode_backward, .decode = sd_decode,
                                              .phi_create = sd_phi_create};
static const vkd_prior_vtbl sd_vtbl_pixel = {.destroy = sd_destroy, .encode_prompt = sd_encode_prompt,
                                             .cond_free = sd_cond_free, .predict = sd_predict,
                                             .phi_create = sd_phi_create};

// Finishes a prior whose components are loaded: vtable, space and sizes.
static vkd_status finish_prior(sd_prior* sp, const char* source, const vkd_sd_prior_desc* d, vkd_prior** out,
                               vkd_error* err) {
    sp->base.vt = sp->latent ? &sd_vtbl_latent : &sd_vtbl_pixel;
    sp->base.space = sp->latent ? VKD_PRIOR_LATENT : VKD_PRIOR_PIXEL;
    sp->base.channels = sp->unet.d.in_channels;
    sp->base.downsample = sp->latent ? 1u << (sp->vae.d.num_blocks - 1) : 1;
    sp->base.width = sp->base.height = d->render_size ? d->render_size : sp->unet.d.sample_size * sp->base.downsample;
    if (!sp->latent && sp->base.channels != 3) {
        sd_destroy(&sp->base);
        return vkd_error_set(err, VKD_ERR_INVALID, "%s: a pixel-space UNet must take 3 channels, not %u", source,
                             sp->unet.d.in_channels);
    }
    *out = &sp->base;
    return VKD_OK;
}

// An original single-file checkpoint through the SD loader (key maps, inferred architecture).
static vkd_status create_from_file(vkd_gpu* gpu, const char* file, const vkd_sd_prior_desc* d, vkd_prior** out,
                                   vkd_error* err) {
    if (!d->tokenizer_dir)
        return vkd_error_set(err, VKD_ERR_INVALID,
                             "%s: a single-file checkpoint has no tokenizer: give its folder (--tokenizer DIR, with "
                             "vocab.json and merges.txt)",
                             file);
    vkd_sd_model* m = NULL;
    vkd_sd_load_desc ld = {.tokenizer_dir = d->tokenizer_dir, .config_dir = d->config_dir, .prediction = d->prediction,
                           .no_vae = d->pixel, .f16 = d->f16};
    vkd_status st = vkd_sd_load(gpu, file, &ld, &m, err);
    if (st) return st;
    sd_prior* sp = calloc(1, sizeof *sp);
    if (!sp) {
        vkd_sd_free(m);
        return vkd_error_set(err, VKD_ERR_OUT_OF_MEMORY, "out of host memory");
    }
    sp->gpu = gpu;
    sp->fold_ids = d->fold_token_ids;
    sp->pred_arena.gpu = sp->enc_arena.gpu = gpu;
    sp->base.impl = sp;
    const char* slash = strrchr(file, '/');
    snprintf(sp->name, sizeof sp->name, "sd:%s%s", slash ? slash + 1 : file, d->f16 ? " (fp16 weights)" : "");
    sp->base.name = sp->name;
    // Take the components over (the model keeps nothing it would free).
    sp->tok = m->tok, m->tok = NULL;
    sp->clip = m->clip, sp->text_p = m->text_p;
    sp->unet = m->unet, sp->unet_p = m->unet_p;
    memset(&m->text_p, 0, sizeof m->text_p);
    memset(&m->unet_p, 0, sizeof m->unet_p);
    sp->latent = m->arch.has_vae && !d->pixel;
    if (sp->latent) {
        sp->vae = m->vae, sp->vae_p = m->vae_p;
        memset(&m->vae_p, 0, sizeof m->vae_p);
        sp->scaling = sp->vae.d.scaling_factor;
    }
    const vkd_sd_sched_arch* sa = &m->arch.sched;
    sp->base.prediction = sa->prediction == VKD_SD_PREDICTION_V        ? VKD_PRED_V
                          : sa->prediction == VKD_SD_PREDICTION_SAMPLE ? VKD_PRED_SAMPLE
                                                                       : VKD_PRED_EPSILON;
    sp->base.num_timesteps = (uint32_t)sa->num_train_timesteps;
    st = sa->beta_schedule == VKD_SD_BETA_SQUAREDCOS_CAP_V2
             ? vkd_error_set(err, VKD_ERR_UNSUPPORTED, "%s: the cosine beta schedule is not supported here", file)
             : vkd_prior_schedule(sp->base.alphas_cumprod, sp->base.num_timesteps,
                                  sa->beta_schedule == VKD_SD_BETA_LINEAR ? VKD_BETA_LINEAR : VKD_BETA_SCALED_LINEAR,
                                  sa->beta_start, sa->beta_end, err);
    vkd_sd_free(m);
    if (!st) {
        vkd_tokenizer_info ti = vkd_tokenizer_get_info(sp->tok);
        sp->T = (uint32_t)ti.max_length;
        sp->D = sp->clip.d.hidden_size;
    }
    if (st) {
        sd_destroy(&sp->base);
        return st;
    }
    return finish_prior(sp, file, d, out, err);
}

vkd_status vkd_sd_prior_create(vkd_gpu* gpu, const char* folder, const vkd_sd_prior_desc* desc, vkd_prior** out,
                               vkd_error* err) {
    *out = NULL;
    vkd_sd_prior_desc d = desc ? *desc : (vkd_sd_prior_desc){0};
    char path[4200];
    struct stat sb;
    if (!stat(folder, &sb) && S_ISREG(sb.st_mode)) return create_from_file(gpu, folder, &d, out, err);
    snprintf(path, sizeof path, "%s/unet/config.json", folder);
    if (!exists(path))
        return vkd_error_set(err, VKD_ERR_IO,
                             "%s: not a diffusers model folder (no unet/config.json); single-file checkpoints: convert "
                             "with tools/sd_convert or give the folder",
                             folder);
    sd_prior* sp = calloc(1, sizeof *sp);
    if (!sp) return vkd_error_set(err, VKD_ERR_OUT_OF_MEMORY, "out of host memory");
    sp->gpu = gpu;
    sp->fold_ids = d.fold_token_ids;
    sp->pred_arena.gpu = sp->enc_arena.gpu = gpu;
    sp->base.impl = sp;
    const char* slash = strrchr(folder, '/');
    snprintf(sp->name, sizeof sp->name, "sd:%s%s", slash && slash[1] ? slash + 1 : folder,
             d.f16 ? " (fp16 weights)" : "");
    sp->base.name = sp->name;
    vkd_status st = VKD_OK;
    // Tokenizer and text encoder.
    if (d.tokenizer_dir) snprintf(path, sizeof path, "%s", d.tokenizer_dir);
    else snprintf(path, sizeof path, "%s/tokenizer", folder);
    st = vkd_tokenizer_load_dir(path, &sp->tok, err);
    vkd_clip_desc cd = {0};
    if (!st) {
        snprintf(path, sizeof path, "%s/text_encoder/config.json", folder);
        st = vkd_clip_config_load(path, &cd, err);
    }
    if (!st) st = vkd_clip_declare(&sp->clip, &sp->text_p, "", &cd, err);
    if (!st) {
        snprintf(path, sizeof path, "%s/text_encoder/model.safetensors", folder);
        st = load_params(gpu, &sp->text_p, path, d.f16, err);
    }
    if (!st) {
        vkd_tokenizer_info ti = vkd_tokenizer_get_info(sp->tok);
        sp->T = (uint32_t)ti.max_length;
        sp->D = sp->clip.d.hidden_size;
        if ((uint32_t)ti.vocab_size > sp->clip.d.vocab_size && !sp->fold_ids)
            st = vkd_error_set(err, VKD_ERR_INVALID,
                               "%s: the tokenizer has %d tokens but the text encoder only %u embeddings", folder,
                               ti.vocab_size, sp->clip.d.vocab_size);
        else if (sp->T > sp->clip.d.max_positions)
            st = vkd_error_set(err, VKD_ERR_INVALID, "%s: tokenizer max_length %u > text encoder positions %u", folder,
                               sp->T, sp->clip.d.max_positions);
    }
    // UNet.
    vkd_unet_desc ud = {0};
    if (!st) {
        snprintf(path, sizeof path, "%s/unet/config.json", folder);
        st = vkd_unet_config_load(path, &ud, err);
    }
    if (!st) st = vkd_unet_declare(&sp->unet, &sp->unet_p, NULL, "", &ud, err);
    if (!st) {
        snprintf(path, sizeof path, "%s/unet/diffusion_pytorch_model.safetensors", folder);
        st = load_params(gpu, &sp->unet_p, path, d.f16, err);
    }
    if (!st && sp->unet.d.cross_attention_dim != sp->D)
        st = vkd_error_set(err, VKD_ERR_INVALID, "%s: unet cross_attention_dim %u != text encoder width %u", folder,
                           sp->unet.d.cross_attention_dim, sp->D);
    // VAE (latent models).
    snprintf(path, sizeof path, "%s/vae/config.json", folder);
    sp->latent = !d.pixel && exists(path);
    if (!st && sp->latent) {
        vkd_vae_desc vd = {0};
        st = vkd_vae_config_load(path, &vd, err);
        if (!st) st = vkd_vae_declare(&sp->vae, &sp->vae_p, "", &vd, err);
        if (!st) {
            snprintf(path, sizeof path, "%s/vae/diffusion_pytorch_model.safetensors", folder);
            st = load_params(gpu, &sp->vae_p, path, d.f16, err);
        }
        sp->scaling = sp->vae.d.scaling_factor;
    }
    if (!st) st = load_schedule(sp, folder, d.prediction, err);
    if (st) {
        sd_destroy(&sp->base);
        return vkd_error_prefix(err, "loading %s: ", folder);
    }
    return finish_prior(sp, folder, &d, out, err);
}
