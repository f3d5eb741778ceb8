// The built-in prior's trainer: procedural captioned renders -> noised with the DDPM schedule
// -> the engine's UNet forward/backward against the noise -> AdamW + EMA
// (include/vkdream/prior/builtin.h).
#define _POSIX_C_SOURCE 200809L
#include "vkdream/nn/accumulate.h"
#include "vkdream/nn/adam.h"
#include "vkdream/nn/eltwise.h"
#include "vkdream/nn/reduce.h"
#include "vkdream/prior/builtin.h"
#include "vkdream/safetensors.h"
#include "prior/builtin_internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct vkd_builtin_trainer {
    vkd_gpu* gpu;
    vkd_stream* s;
    vkd_arena arena;
    vkd_builtin_arch arch;
    vkd_builtin_train_desc d;       // resolved
    vkd_builtin_data_desc data;     // resolved
    vkd_clip clip;
    vkd_params text_p;
    vkd_unet unet;
    vkd_params unet_p;
    vkd_buffer ema;                 // (total,) or addr 0
    vkd_scheduler sched;
    bool sched_ok;
    uint32_t S, T, D, B;
    vkd_buffer cond;                // (VKD_BUILTIN_CAPTIONS + 1, T, D): every caption encoded once
    vkd_buffer x0, noise, ts, out;  // (B, 3, S, S) x2, (B,), out: loss, grad norm, scratch
    float* hx0;
    float* hnoise;
    uint32_t step;
};

#define OUT_LOSS 0
#define OUT_NORM 1
#define OUT_SCRATCH 64  // floats; 256-byte aligned

static uint64_t image_floats(const vkd_builtin_trainer* tr) { return (uint64_t)3 * tr->S * tr->S; }

void vkd_builtin_trainer_free(vkd_builtin_trainer* tr) {
    if (!tr) return;
    vkd_buffer* bufs[] = {&tr->ema, &tr->cond, &tr->x0, &tr->noise, &tr->ts, &tr->out};
    for (size_t i = 0; i < sizeof bufs / sizeof bufs[0]; i++)
        if (bufs[i]->addr) vkd_buffer_free(tr->gpu, bufs[i]);
    vkd_params_free(&tr->text_p);
    vkd_params_free(&tr->unet_p);
    if (tr->sched_ok) vkd_scheduler_free(&tr->sched);
    vkd_arena_free(&tr->arena);
    if (tr->s) vkd_stream_destroy(tr->s);
    free(tr->hx0);
    free(tr->hnoise);
    free(tr);
}

// Encodes every caption (and "") with the frozen text encoder into tr->cond.
static vkd_status encode_captions(vkd_builtin_trainer* tr, const vkd_tokenizer* tok, vkd_error* err) {
    const uint32_t n = VKD_BUILTIN_CAPTIONS + 1, chunk = 64;
    int32_t* ids = malloc((size_t)chunk * tr->T * sizeof(int32_t));
    if (!ids) return vkd_error_set(err, VKD_ERR_OUT_OF_MEMORY, "builtin: out of host memory");
    vkd_status st = VKD_OK;
    for (uint32_t first = 0; first < n && !st; first += chunk) {
        uint32_t cnt = n - first < chunk ? n - first : chunk;
        for (uint32_t i = 0; i < cnt && !st; i++) {
            char text[VKD_BUILTIN_CAPTION_MAX];
            vkd_builtin_caption(first + i, text, sizeof text);
            bool truncated = false;
            st = vkd_tokenizer_encode_padded(tok, text, ids + (size_t)i * tr->T, NULL, &truncated, err);
            if (!st && truncated)
                st = vkd_error_set(err, VKD_ERR_INVALID, "builtin: caption \"%s\" is longer than %u tokens", text,
                                   tr->T);
        }
        if (!st)
            st = vkd_clip_encode(&tr->clip, &tr->text_p, &tr->arena,
                                 tr->cond.addr + (uint64_t)first * tr->T * tr->D * sizeof(float), 0, ids, cnt, tr->T,
                                 0, err);
    }
    free(ids);
    return st;
}

vkd_status vkd_builtin_trainer_create(vkd_gpu* gpu, const vkd_builtin_arch* arch, const vkd_tokenizer* tok,
                                      const vkd_builtin_train_desc* desc, vkd_builtin_trainer** out, vkd_error* err) {
    *out = NULL;
    vkd_builtin_trainer* tr = calloc(1, sizeof(*tr));
    if (!tr) return vkd_error_set(err, VKD_ERR_OUT_OF_MEMORY, "builtin: out of host memory");
    tr->gpu = gpu;
    tr->arena.gpu = gpu;
    tr->arch = *arch;
    tr->d = desc ? *desc : (vkd_builtin_train_desc){0};
    if (!tr->d.batch) tr->d.batch = 16;
    if (tr->d.lr == 0) tr->d.lr = 1e-3f;
    if (!tr->d.warmup) tr->d.warmup = 200;
    if (tr->d.weight_decay == 0) tr->d.weight_decay = 0.01f;
    if (tr->d.max_grad_norm == 0) tr->d.max_grad_norm = 1.0f;
    if (tr->d.ema_decay == 0) tr->d.ema_decay = 0.999f;
    if (!tr->d.data.seed) tr->d.data.seed = tr->d.seed;
    if (!tr->d.data.size) tr->d.data.size = arch->unet.sample_size;
    vkd_builtin_data_resolve(&tr->d.data, &tr->data);
    tr->d.data = tr->data;
    tr->B = tr->d.batch;
    tr->S = tr->data.size;
    vkd_tokenizer_info ti = vkd_tokenizer_get_info(tok);
    tr->T = (uint32_t)ti.max_length;
    vkd_status st = VKD_OK;
    if (arch->unet.in_channels != 3 || arch->unet.out_channels != 3)
        st = vkd_error_set(err, VKD_ERR_INVALID, "builtin: the UNet must take and give 3 channels (pixels), not %u/%u",
                           arch->unet.in_channels, arch->unet.out_channels);
    else if (tr->S != arch->unet.sample_size)
        st = vkd_error_set(err, VKD_ERR_INVALID, "builtin: data size %u != unet sample_size %u", tr->S,
                           arch->unet.sample_size);
    else if ((uint32_t)ti.vocab_size > arch->clip.vocab_size || tr->T > arch->clip.max_positions)
        st = vkd_error_set(err, VKD_ERR_INVALID,
                           "builtin: the tokenizer (%d ids, %u positions) does not fit the text encoder (%u, %u)",
                           ti.vocab_size, tr->T, arch->clip.vocab_size, arch->clip.max_positions);
    if (!st) st = vkd_stream_create(gpu, &tr->s, err);
    if (!st) st = vkd_clip_declare(&tr->clip, &tr->text_p, NULL, &arch->clip, err);
    if (!st) st = vkd_unet_declare(&tr->unet, &tr->unet_p, NULL, "", &arch->unet, err);
    if (!st && tr->unet.d.cross_attention_dim != tr->clip.d.hidden_size)
        st = vkd_error_set(err, VKD_ERR_INVALID, "builtin: unet cross_attention_dim %u != text encoder width %u",
                           tr->unet.d.cross_attention_dim, tr->clip.d.hidden_size);
    tr->D = tr->clip.d.hidden_size;
    if (!st) st = vkd_params_alloc(gpu, &tr->text_p, false, err);
    if (!st) st = vkd_params_alloc(gpu, &tr->unet_p, true, err);
    if (!st) st = vkd_params_alloc_adam(&tr->unet_p, err);
    if (!st && (tr->unet_p.nchunks > 1 || tr->text_p.nchunks > 1))
        st = vkd_error_set(err, VKD_ERR_UNSUPPORTED, "builtin: parameter sets this large are not supported");
    if (!st) {
        // Padding between parameters is zeroed so checkpoints and EMA are deterministic.
        vkd_stream_fill(tr->s, tr->unet_p.data.addr, (uint32_t)tr->unet_p.total, 0);
        vkd_stream_fill(tr->s, tr->text_p.data.addr, (uint32_t)tr->text_p.total, 0);
        st = vkd_stream_submit(tr->s, err);
    }
    if (!st) st = vkd_builtin_init_params(&tr->unet_p, tr->d.seed * 2 + 0, err);
    if (!st) st = vkd_builtin_init_params(&tr->text_p, tr->d.seed * 2 + 1, err);
    if (!st && tr->d.ema_decay > 0) {
        st = vkd_buffer_alloc(gpu, tr->unet_p.total * sizeof(float), &tr->ema, err);
        if (!st) {
            vkd_stream_copy(tr->s, tr->ema.addr, tr->unet_p.data.addr, (uint32_t)tr->unet_p.total);
            st = vkd_stream_submit(tr->s, err);
        }
    }
    if (!st) {
        st = vkd_scheduler_init(&tr->sched, &arch->sched, gpu, err);
        tr->sched_ok = !st;
    }
    uint64_t n = image_floats(tr) * tr->B;
    if (!st) st = vkd_buffer_alloc(gpu, (size_t)(VKD_BUILTIN_CAPTIONS + 1) * tr->T * tr->D * sizeof(float), &tr->cond, err);
    if (!st) st = vkd_buffer_alloc(gpu, n * sizeof(float), &tr->x0, err);
    if (!st) st = vkd_buffer_alloc(gpu, n * sizeof(float), &tr->noise, err);
    if (!st) st = vkd_buffer_alloc(gpu, tr->B * sizeof(float), &tr->ts, err);
    if (!st)
        st = vkd_buffer_alloc(gpu, (OUT_SCRATCH + VKD_GRAD_NORM_SCRATCH + vkd_sum_scratch_bytes((uint32_t)n) / 4 + 64) *
                                       sizeof(float),
                              &tr->out, err);
    if (!st) {
        tr->hx0 = malloc(n * sizeof(float));
        tr->hnoise = malloc(n * sizeof(float));
        if (!tr->hx0 || !tr->hnoise) st = vkd_error_set(err, VKD_ERR_OUT_OF_MEMORY, "builtin: out of host memory");
    }
    if (!st) st = encode_captions(tr, tok, err);
    if (st) {
        vkd_builtin_trainer_free(tr);
        return st;
    }
    *out = tr;
    return VKD_OK;
}

uint32_t vkd_builtin_trainer_step_count(const vkd_builtin_trainer* tr) { return tr->step; }

vkd_builtin_parts vkd_builtin_trainer_parts(const vkd_builtin_trainer* tr) {
    return (vkd_builtin_parts){.arch = &tr->arch, .clip = &tr->clip, .text_p = &tr->text_p, .unet = &tr->unet,
                               .unet_p = &tr->unet_p, .ema = tr->ema.addr ? &tr->ema : &tr->unet_p.data,
                               .sched = &tr->sched};
}

// Fills the host batch: examples first .. first + B - 1 of `data`, their noise and timesteps
// (streams of `seed`), and uploads it. cond_index[b] gets each example's conditioning.
static vkd_status make_batch(vkd_builtin_trainer* tr, const vkd_builtin_data_desc* data, uint64_t seed, uint64_t first,
                             uint32_t B, uint32_t* cond_index, vkd_error* err) {
    uint64_t n = image_floats(tr);
    float ts[256];
    for (uint32_t b = 0; b < B; b++) {
        vkd_builtin_example ex;
        vkd_builtin_example_get(data, first + b, &ex, tr->hx0 + n * b);
        cond_index[b] = ex.cond_index;
        bi_rng rn = bi_rng_for(seed, first + b, BI_STREAM_NOISE);
        for (uint64_t i = 0; i < n; i++) tr->hnoise[n * b + i] = (float)bi_normal(&rn);
        bi_rng rt = bi_rng_for(seed, first + b, BI_STREAM_TIME);
        ts[b] = (float)(bi_u64(&rt) % tr->sched.d.num_train_timesteps);
    }
    vkd_status st = vkd_buffer_upload(tr->gpu, &tr->x0, 0, tr->hx0, n * B * sizeof(float), err);
    if (!st) st = vkd_buffer_upload(tr->gpu, &tr->noise, 0, tr->hnoise, n * B * sizeof(float), err);
    if (!st) st = vkd_buffer_upload(tr->gpu, &tr->ts, 0, ts, B * sizeof(float), err);
    return st;
}

// Records x_t, the regression target of the schedule's prediction type (the noise, or
// v = sa noise - sb x0) and the conditioning of a batch; returns x_t (arena), the target in
// *target and ctx in *ctx.
static vkd_addr record_inputs(vkd_builtin_trainer* tr, const uint32_t* cond_index, uint32_t B, vkd_addr* target,
                              vkd_addr* ctx) {
    uint64_t n = image_floats(tr) * B, per = (uint64_t)tr->T * tr->D;
    vkd_addr xt = vkd_arena_alloc(&tr->arena, tr->s, n);
    *ctx = vkd_arena_alloc(&tr->arena, tr->s, per * B);
    *target = tr->noise.addr;
    if (tr->sched.d.prediction_type == VKD_PREDICT_V) *target = vkd_arena_alloc(&tr->arena, tr->s, n);
    if (!xt || !*ctx || !*target) return 0;
    vkd_scheduler_add_noise(&tr->sched, tr->s, xt, tr->x0.addr, tr->noise.addr, tr->ts.addr, B,
                            (uint32_t)image_floats(tr));
    if (tr->sched.d.prediction_type == VKD_PREDICT_V)
        vkd_scheduler_velocity(&tr->sched, tr->s, *target, tr->x0.addr, tr->noise.addr, tr->ts.addr, B,
                               (uint32_t)image_floats(tr));
    for (uint32_t b = 0; b < B; b++)
        vkd_stream_copy(tr->s, *ctx + per * b * sizeof(float), tr->cond.addr + per * cond_index[b] * sizeof(float),
                        (uint32_t)per);
    return xt;
}

vkd_status vkd_builtin_trainer_step(vkd_builtin_trainer* tr, float* loss, float* grad_norm, vkd_error* err) {
    const uint32_t B = tr->B;
    uint32_t cond_index[256];
    if (B > 256) return vkd_error_set(err, VKD_ERR_INVALID, "builtin: batch %u > 256", B);
    vkd_status st = make_batch(tr, &tr->data, tr->d.seed, (uint64_t)tr->step * B, B, cond_index, err);
    if (st) return st;
    vkd_stream* s = tr->s;
    vkd_arena_reset(&tr->arena);
    uint64_t n = image_floats(tr) * B;
    vkd_addr ctx = 0, target = 0;
    vkd_addr xt = record_inputs(tr, cond_index, B, &target, &ctx);
    vkd_addr pred = vkd_arena_alloc(&tr->arena, s, n);
    vkd_addr dpred = vkd_arena_zeros(&tr->arena, s, n);
    vkd_addr one = vkd_arena_alloc(&tr->arena, s, 1);
    vkd_addr out = tr->out.addr;
    vkd_addr norm_scratch = out + OUT_SCRATCH * sizeof(float);
    vkd_addr sum_scratch = norm_scratch + VKD_GRAD_NORM_SCRATCH * sizeof(float);
    vkd_unet_saved* sv = vkd_unet_saved_new();
    if (!sv) return vkd_error_set(err, VKD_ERR_OUT_OF_MEMORY, "builtin: out of host memory");
    if (xt && pred && dpred && one) {
        vkd_stream_fill(s, one, 1, 0x3F800000u);  // dL/dloss = 1.0f
        vkd_params_zero_grad(&tr->unet_p, s);
        vkd_unet_forward(&tr->unet, &tr->unet_p, NULL, s, &tr->arena, pred, xt, tr->ts.addr, ctx, 0, B, tr->S, tr->S,
                         tr->T, sv, NULL);
        vkd_mse_loss_forward(s, out + OUT_LOSS * sizeof(float), sum_scratch, pred, target, (uint32_t)n);
        vkd_mse_loss_backward(s, dpred, 0, one, pred, target, (uint32_t)n);
        vkd_unet_backward(&tr->unet, &tr->unet_p, NULL, s, &tr->arena, 0, 0, 0, dpred, sv);
        uint32_t total = (uint32_t)tr->unet_p.total;
        vkd_grad_norm(s, out + OUT_NORM * sizeof(float), norm_scratch, tr->unet_p.grad.addr, total);
        float warm = tr->step < tr->d.warmup ? (float)(tr->step + 1) / (float)tr->d.warmup : 1.0f;
        vkd_adam_desc ad = {.lr = tr->d.lr * warm, .decoupled = true,
                            .weight_decay = tr->d.weight_decay > 0 ? tr->d.weight_decay : 0,
                            .max_norm = tr->d.max_grad_norm > 0 ? tr->d.max_grad_norm : 0};
        vkd_adam_step(s, tr->unet_p.data.addr, tr->unet_p.adam_m.addr, tr->unet_p.adam_v.addr, tr->unet_p.grad.addr,
                      ad.max_norm > 0 ? out + OUT_NORM * sizeof(float) : 0, total, tr->step + 1, &ad);
        if (tr->ema.addr) {
            // diffusers' EMAModel warm-up: decay_n = min(decay, (1 + n) / (10 + n)).
            double k = (1.0 + tr->step) / (10.0 + tr->step);
            float decay = (float)(k < tr->d.ema_decay ? k : tr->d.ema_decay);
            vkd_scale_forward(s, tr->ema.addr, tr->ema.addr, total, decay, 0.0f);
            vkd_accumulate(s, tr->ema.addr, tr->unet_p.data.addr, 1.0f - decay, total);
        }
    }
    st = vkd_stream_submit(s, err);
    vkd_unet_saved_free(sv);
    float res[2] = {0, 0};
    if (!st) st = vkd_buffer_download(tr->gpu, &tr->out, 0, res, sizeof res, err);
    if (st) return vkd_error_prefix(err, "builtin training step %u: ", tr->step);
    if (loss) *loss = res[0];
    if (grad_norm) *grad_norm = res[1];
    tr->step++;
    return VKD_OK;
}

vkd_status vkd_builtin_trainer_eval(vkd_builtin_trainer* tr, uint64_t eval_seed, uint32_t count, bool ema, float* loss,
                                    vkd_error* err) {
    vkd_builtin_data_desc data = tr->data;
    data.seed = eval_seed;
    data.uncond_prob = -1;
    vkd_params p = tr->unet_p;
    if (ema && tr->ema.addr) p.data = tr->ema;
    p.grad = (vkd_buffer){0};
    double sum = 0;
    uint32_t done = 0;
    vkd_status st = VKD_OK;
    while (done < count && !st) {
        uint32_t B = count - done < tr->B ? count - done : tr->B;
        uint32_t cond_index[256];
        st = make_batch(tr, &data, eval_seed, done, B, cond_index, err);
        if (st) break;
        vkd_arena_reset(&tr->arena);
        uint64_t n = image_floats(tr) * B;
        vkd_addr ctx = 0, target = 0;
        vkd_addr xt = record_inputs(tr, cond_index, B, &target, &ctx);
        vkd_addr pred = vkd_arena_alloc(&tr->arena, tr->s, n);
        vkd_addr sum_scratch = tr->out.addr + (OUT_SCRATCH + VKD_GRAD_NORM_SCRATCH) * sizeof(float);
        if (xt && pred) {
            vkd_unet_forward(&tr->unet, &p, NULL, tr->s, &tr->arena, pred, xt, tr->ts.addr, ctx, 0, B, tr->S, tr->S,
                             tr->T, NULL, NULL);
            vkd_mse_loss_forward(tr->s, tr->out.addr + 2 * sizeof(float), sum_scratch, pred, target, (uint32_t)n);
        }
        st = vkd_stream_submit(tr->s, err);
        float l = 0;
        if (!st) st = vkd_buffer_download(tr->gpu, &tr->out, 2 * sizeof(float), &l, sizeof l, err);
        sum += (double)l * B;
        done += B;
    }
    if (st) return vkd_error_prefix(err, "builtin eval: ");
    *loss = (float)(sum / (count ? count : 1));
    return VKD_OK;
}

// ---------------------------------------------------------------------------
// Checkpoints

static vkd_status download_all(vkd_gpu* gpu, const vkd_buffer* b, uint64_t n, float** out, vkd_error* err) {
    *out = malloc((n ? n : 1) * sizeof(float));
    if (!*out) return vkd_error_set(err, VKD_ERR_OUT_OF_MEMORY, "out of host memory");
    return vkd_buffer_download(gpu, b, 0, *out, n * sizeof(float), err);
}

// The configuration a checkpoint must match to be resumed.
static char* arch_signature(const vkd_builtin_trainer* tr) {
    char* u = vkd_builtin_unet_config_json(&tr->arch.unet, NULL);
    char* c = vkd_builtin_clip_config_json(&tr->arch.clip);
    size_t n = (u ? strlen(u) : 0) + (c ? strlen(c) : 0) + 256;
    char* s = malloc(n);
    if (s)
        snprintf(s, n, "%s%s{\"batch\": %u, \"size\": %u, \"seed\": %llu, \"data_seed\": %llu}", u ? u : "",
                 c ? c : "", tr->B, tr->S, (unsigned long long)tr->d.seed, (unsigned long long)tr->data.seed);
    free(u);
    free(c);
    return s;
}

vkd_status vkd_builtin_trainer_save_checkpoint(const vkd_builtin_trainer* tr, const char* path, vkd_error* err) {
    const vkd_buffer* src[5] = {&tr->unet_p.data, &tr->unet_p.adam_m, &tr->unet_p.adam_v,
                                tr->ema.addr ? &tr->ema : NULL, &tr->text_p.data};
    const char* names[5] = {"unet", "adam_m", "adam_v", "ema", "text"};
    float* host[5] = {0};
    vkd_tensor_write t[5];
    size_t nt = 0;
    vkd_status st = VKD_OK;
    for (int i = 0; i < 5 && !st; i++) {
        if (!src[i]) continue;
        uint64_t n = i == 4 ? tr->text_p.total : tr->unet_p.total;
        st = download_all(tr->gpu, src[i], n, &host[i], err);
        t[nt] = (vkd_tensor_write){.name = names[i], .dtype = VKD_DTYPE_F32, .ndim = 1, .shape = {(int64_t)n},
                                   .data = host[i]};
        nt++;
    }
    char step[32];
    snprintf(step, sizeof step, "%u", tr->step);
    char* sig = arch_signature(tr);
    const char* meta[] = {"step", step, "config", sig ? sig : "", NULL};
    if (!st) st = vkd_safetensors_write(path, t, nt, meta, err);
    free(sig);
    for (int i = 0; i < 5; i++) free(host[i]);
    if (st) return vkd_error_prefix(err, "saving checkpoint %s: ", path);
    return VKD_OK;
}

vkd_status vkd_builtin_trainer_load_checkpoint(vkd_builtin_trainer* tr, const char* path, vkd_error* err) {
    vkd_safetensors* f = NULL;
    vkd_status st = vkd_safetensors_open(path, &f, err);
    if (st) return st;
    const char* cfg = vkd_safetensors_metadata(f, "config");
    const char* step = vkd_safetensors_metadata(f, "step");
    char* sig = arch_signature(tr);
    if (!cfg || !step)
        st = vkd_error_set(err, VKD_ERR_INVALID, "%s: not a train_prior checkpoint (no step/config metadata)", path);
    else if (!sig || strcmp(cfg, sig))
        st = vkd_error_set(err, VKD_ERR_INVALID,
                           "%s: the checkpoint was made with another configuration (model, batch, size or seed: "
                           "resume with the options it was made with, or start over)",
                           path);
    free(sig);
    vkd_buffer* dst[5] = {&tr->unet_p.data, &tr->unet_p.adam_m, &tr->unet_p.adam_v, tr->ema.addr ? &tr->ema : NULL,
                          &tr->text_p.data};
    const char* names[5] = {"unet", "adam_m", "adam_v", "ema", "text"};
    float* host = NULL;
    for (int i = 0; i < 5 && !st; i++) {
        if (!dst[i]) continue;
        uint64_t n = i == 4 ? tr->text_p.total : tr->unet_p.total;
        free(host);
        host = malloc(n * sizeof(float));
        if (!host) st = vkd_error_set(err, VKD_ERR_OUT_OF_MEMORY, "out of host memory");
        if (!st) st = vkd_safetensors_read_f32(f, names[i], host, n, err);
        if (!st) st = vkd_buffer_upload(tr->gpu, dst[i], 0, host, n * sizeof(float), err);
    }
    free(host);
    if (!st) tr->step = (uint32_t)strtoul(step, NULL, 10);
    vkd_safetensors_close(f);
    if (st) return vkd_error_prefix(err, "loading checkpoint %s: ", path);
    return VKD_OK;
}

vkd_status vkd_builtin_trainer_save_model(const vkd_builtin_trainer* tr, const char* dir,
                                          const vkd_builtin_save_desc* desc, vkd_error* err) {
    return vkd_builtin_save(dir, &tr->arch, &tr->unet_p, tr->ema.addr ? &tr->ema : &tr->unet_p.data, &tr->text_p,
                            &tr->text_p.data, desc, err);
}
