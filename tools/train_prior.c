// Trains the built-in prior: a small pixel-space text-to-image diffusion model that uses the
// engine's own UNet, CLIP text encoder, forward/backward and AdamW, on procedural objects
// rendered by vkdream (include/vkdream/shapes.h) with view-dependent captions
// ("a red cube, side view"), and saves it in the diffusers folder layout that
// `vkdream generate --model builtin` loads.
//
//   train_prior --out assets/builtin [--steps N] [--batch B] [--lr X] [--seed S] [--resume]
//
// The text encoder is a seeded random CLIP (frozen: the engine has no CLIP backward), which
// still gives every caption a distinct conditioning for the UNet's cross-attention to learn.
#define _POSIX_C_SOURCE 200809L
#include "vkdream/nn/adam.h"
#include "vkdream/nn/arena.h"
#include "vkdream/nn/params.h"
#include "vkdream/nn/reduce.h"
#include "vkdream/prior/clip.h"
#include "vkdream/prior/unet_cond.h"
#include "vkdream/safetensors.h"
#include "vkdream/shapes.h"
#include "vkdream/tokenizer.h"

#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#define SIZE 32
#define T_STEPS 1000

static volatile sig_atomic_t stop = 0;
static void on_signal(int sig) {
    (void)sig;
    stop = 1;
}

static uint64_t rng_u64(uint64_t* s) {
    uint64_t z = (*s += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}
static double rng_uniform(uint64_t* s) { return (double)(rng_u64(s) >> 11) / 9007199254740992.0; }
static double rng_normal(uint64_t* s) {
    double u1 = rng_uniform(s) + 1e-300, u2 = rng_uniform(s);
    return sqrt(-2 * log(u1)) * cos(6.283185307179586 * u2);
}

static const char* view_of(float az, float el) {
    if (el > 60) return "overhead";
    float a = fabsf(az);
    return a < 45 ? "front" : a > 135 ? "back" : "side";
}

static double now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static bool write_text(const char* path, const char* text) {
    FILE* f = fopen(path, "w");
    if (!f) return false;
    bool ok = fputs(text, f) >= 0;
    return fclose(f) == 0 && ok;
}

// The model: configs shared by the trainer and the saved folder.
static const vkd_unet_desc unet_desc = {
    .in_channels = 3, .out_channels = 3, .sample_size = SIZE, .num_blocks = 3,
    .block_out_channels = {32, 64, 64}, .cross_down = {false, true, true}, .cross_up = {true, true, false},
    .mid_cross = true, .layers_per_block = 1, .heads = {4, 4, 4}, .cross_attention_dim = 64,
    .norm_groups = 32, .norm_eps = 1e-5f, .flip_sin_to_cos = true,
};

static vkd_clip_desc clip_desc(uint32_t vocab) {
    return (vkd_clip_desc){.vocab_size = vocab, .hidden_size = 64, .intermediate_size = 128, .num_layers = 2,
                           .num_heads = 4, .max_positions = 16, .act = VKD_CLIP_ACT_QUICK_GELU,
                           .pool = VKD_CLIP_POOL_ARGMAX};
}

static bool save_folder(const char* out, vkd_params* unet_p, vkd_params* text_p, uint32_t vocab, uint32_t step,
                        vkd_error* err) {
    char path[4200], text[4096];
    const char* dirs[] = {"unet", "text_encoder", "scheduler"};
    for (int i = 0; i < 3; i++) {
        snprintf(path, sizeof path, "%s/%s", out, dirs[i]);
        mkdir(path, 0755);
    }
    snprintf(path, sizeof path, "%s/model_index.json", out);
    if (!write_text(path, "{\"_class_name\": \"VkdreamBuiltinPipeline\", \"space\": \"pixel\", \"unet\": "
                          "[\"diffusers\", \"UNet2DConditionModel\"], \"text_encoder\": [\"transformers\", "
                          "\"CLIPTextModel\"], \"tokenizer\": [\"transformers\", \"CLIPTokenizer\"], "
                          "\"scheduler\": [\"diffusers\", \"DDPMScheduler\"]}\n"))
        return false;
    snprintf(text, sizeof text,
             "{\"_class_name\": \"UNet2DConditionModel\", \"in_channels\": 3, \"out_channels\": 3, \"sample_size\": %d,\n"
             " \"block_out_channels\": [32, 64, 64], \"layers_per_block\": 1,\n"
             " \"down_block_types\": [\"DownBlock2D\", \"CrossAttnDownBlock2D\", \"CrossAttnDownBlock2D\"],\n"
             " \"up_block_types\": [\"CrossAttnUpBlock2D\", \"CrossAttnUpBlock2D\", \"UpBlock2D\"],\n"
             " \"mid_block_type\": \"UNetMidBlock2DCrossAttn\", \"attention_head_dim\": 4, \"cross_attention_dim\": 64,\n"
             " \"norm_num_groups\": 32, \"norm_eps\": 1e-05, \"flip_sin_to_cos\": true, \"freq_shift\": 0,\n"
             " \"use_linear_projection\": false, \"vkdream_trained_steps\": %u}\n",
             SIZE, step);
    snprintf(path, sizeof path, "%s/unet/config.json", out);
    if (!write_text(path, text)) return false;
    snprintf(text, sizeof text,
             "{\"architectures\": [\"CLIPTextModel\"], \"vocab_size\": %u, \"hidden_size\": 64, \"intermediate_size\": 128,\n"
             " \"num_hidden_layers\": 2, \"num_attention_heads\": 4, \"max_position_embeddings\": 16,\n"
             " \"hidden_act\": \"quick_gelu\", \"layer_norm_eps\": 1e-05, \"bos_token_id\": %u, \"eos_token_id\": %u,\n"
             " \"pad_token_id\": %u}\n",
             vocab, vocab - 2, vocab - 1, vocab - 1);
    snprintf(path, sizeof path, "%s/text_encoder/config.json", out);
    if (!write_text(path, text)) return false;
    snprintf(path, sizeof path, "%s/scheduler/scheduler_config.json", out);
    if (!write_text(path, "{\"_class_name\": \"DDPMScheduler\", \"num_train_timesteps\": 1000, \"beta_start\": 0.0001,\n"
                          " \"beta_end\": 0.02, \"beta_schedule\": \"linear\", \"prediction_type\": \"epsilon\",\n"
                          " \"steps_offset\": 1, \"clip_sample\": false}\n"))
        return false;
    snprintf(path, sizeof path, "%s/unet/diffusion_pytorch_model.safetensors", out);
    if (vkd_params_save(unet_p, path, false, NULL, err)) return false;
    snprintf(path, sizeof path, "%s/text_encoder/model.safetensors", out);
    return vkd_params_save(text_p, path, false, NULL, err) == VKD_OK;
}

int main(int argc, char** argv) {
    const char* out = "assets/builtin";
    uint32_t steps = 2000, B = 16, seed = 1;
    float lr = 1e-3f;
    bool resume = false;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--help")) {
            printf("usage: train_prior [--out DIR] [--steps N] [--batch B] [--lr X] [--seed S] [--resume]\n"
                   "Trains the built-in prior on procedural objects (DIR/tokenizer must exist: tools/prior_vocab DIR/tokenizer)\n"
                   "and saves it in the diffusers layout in DIR; DIR/train.safetensors keeps the optimizer state\n"
                   "for --resume; DIR/train_log.csv the loss per step.\n");
            return 0;
        } else if (!strcmp(argv[i], "--out") && i + 1 < argc) out = argv[++i];
        else if (!strcmp(argv[i], "--steps") && i + 1 < argc) steps = (uint32_t)atoi(argv[++i]);
        else if (!strcmp(argv[i], "--batch") && i + 1 < argc) B = (uint32_t)atoi(argv[++i]);
        else if (!strcmp(argv[i], "--lr") && i + 1 < argc) lr = strtof(argv[++i], NULL);
        else if (!strcmp(argv[i], "--seed") && i + 1 < argc) seed = (uint32_t)atoi(argv[++i]);
        else if (!strcmp(argv[i], "--resume")) resume = true;
        else {
            fprintf(stderr, "train_prior: unknown argument %s (see --help)\n", argv[i]);
            return 2;
        }
    }
    if (B < 1 || B > 64) {
        fprintf(stderr, "train_prior: --batch %u: expected 1..64\n", B);
        return 2;
    }
    vkd_error err = {0};
    char path[4200];
    vkd_tokenizer* tok = NULL;
    snprintf(path, sizeof path, "%s/tokenizer", out);
    if (vkd_tokenizer_load_dir(path, &tok, &err)) {
        fprintf(stderr, "train_prior: %s (make it with tools/prior_vocab %s)\n", err.msg, path);
        return 1;
    }
    vkd_tokenizer_info ti = vkd_tokenizer_get_info(tok);
    uint32_t T = (uint32_t)ti.max_length, vocab = (uint32_t)ti.vocab_size;
    vkd_gpu* gpu = NULL;
    vkd_stream* s = NULL;
    vkd_params text_p = {0}, unet_p = {0};
    vkd_clip clip;
    vkd_unet unet;
    vkd_arena a = {0};
    vkd_clip_desc cd = clip_desc(vocab);
    if (vkd_gpu_create(&(vkd_gpu_desc){0}, &gpu, &err) || vkd_stream_create(gpu, &s, &err) ||
        vkd_clip_declare(&clip, &text_p, "", &cd, &err) || vkd_unet_declare(&unet, &unet_p, NULL, "", &unet_desc, &err) ||
        vkd_params_alloc(gpu, &text_p, false, &err) || vkd_params_alloc(gpu, &unet_p, true, &err) ||
        vkd_params_alloc_adam(&unet_p, &err)) {
        fprintf(stderr, "train_prior: %s\n", err.msg);
        return 1;
    }
    a.gpu = gpu;
    uint32_t step = 0;
    snprintf(path, sizeof path, "%s/train.safetensors", out);
    if (resume) {
        // params, adam_m.*, adam_v.* of the UNet and the text encoder's params, and the step.
        vkd_safetensors* f = NULL;
        vkd_params_load_desc pd = {0};
        if (vkd_safetensors_open(path, &f, &err) || vkd_params_load(&unet_p, f, &pd, &err)) {
            fprintf(stderr, "train_prior: --resume: %s\n", err.msg);
            return 1;
        }
        const char* st = vkd_safetensors_metadata(f, "step");
        step = st ? (uint32_t)atoi(st) : 0;
        vkd_safetensors_close(f);
        snprintf(path, sizeof path, "%s/text_encoder/model.safetensors", out);
        if (vkd_safetensors_open(path, &f, &err) || vkd_params_load(&text_p, f, NULL, &err)) {
            fprintf(stderr, "train_prior: --resume: %s\n", err.msg);
            return 1;
        }
        vkd_safetensors_close(f);
        snprintf(path, sizeof path, "%s/train_m.safetensors", out);
        if (!vkd_safetensors_open(path, &f, &err)) {
            float* tmp = malloc(unet_p.total * sizeof(float));
            for (uint32_t i = 0; i < unet_p.count; i++) {
                vkd_safetensors_read_f32(f, unet_p.items[i].name, tmp, unet_p.items[i].count, &err);
                vkd_buffer_upload(gpu, &unet_p.adam_m, unet_p.items[i].offset * 4, tmp, unet_p.items[i].count * 4, &err);
            }
            vkd_safetensors_close(f);
            snprintf(path, sizeof path, "%s/train_v.safetensors", out);
            if (!vkd_safetensors_open(path, &f, &err)) {
                for (uint32_t i = 0; i < unet_p.count; i++) {
                    vkd_safetensors_read_f32(f, unet_p.items[i].name, tmp, unet_p.items[i].count, &err);
                    vkd_buffer_upload(gpu, &unet_p.adam_v, unet_p.items[i].offset * 4, tmp, unet_p.items[i].count * 4, &err);
                }
                vkd_safetensors_close(f);
            }
            free(tmp);
        }
        printf("train_prior: resumed at step %u\n", step);
    } else {
        vkd_params_init_random(&unet_p, seed, &err);
        vkd_params_init_random(&text_p, seed + 100, &err);
    }
    double abar[T_STEPS], prod = 1;
    for (int t = 0; t < T_STEPS; t++) prod *= 1 - (1e-4 + (0.02 - 1e-4) * t / (T_STEPS - 1)), abar[t] = prod;
    size_t nimg = (size_t)B * 3 * SIZE * SIZE;
    float* xt = malloc(nimg * 4);
    float* eps = malloc(nimg * 4);
    float* img = malloc((size_t)3 * SIZE * SIZE * 4);
    float ts[64];
    int32_t* ids = malloc((size_t)B * T * sizeof(int32_t));
    vkd_buffer bx, be, bt, bc, bl;
    if (vkd_buffer_alloc(gpu, nimg * 4, &bx, &err) || vkd_buffer_alloc(gpu, nimg * 4, &be, &err) ||
        vkd_buffer_alloc(gpu, 64 * 4, &bt, &err) || vkd_buffer_alloc(gpu, (size_t)B * T * 64 * 4, &bc, &err) ||
        vkd_buffer_alloc(gpu, 4, &bl, &err)) {
        fprintf(stderr, "train_prior: %s\n", err.msg);
        return 1;
    }
    snprintf(path, sizeof path, "%s/train_log.csv", out);
    FILE* log = fopen(path, resume ? "a" : "w");
    if (log && !resume) fprintf(log, "step,loss,seconds\n");
    signal(SIGINT, on_signal);
    uint64_t rng = seed * 7919ull + step * 104729ull;
    double ema = 0, t0 = now_s();
    for (; step < steps && !stop; step++) {
        // A batch of captioned renders, noised on the host.
        for (uint32_t b = 0; b < B; b++) {
            vkd_shape_object o = {.shape = (vkd_shape)(rng_u64(&rng) % VKD_SHAPE_COUNT),
                                  .color = (vkd_shape_color)(rng_u64(&rng) % VKD_COLOR_COUNT),
                                  .scale = (float)(0.8 + 0.3 * rng_uniform(&rng)),
                                  .yaw_deg = (float)(360 * rng_uniform(&rng)), .shiny = rng_uniform(&rng) < 0.3};
            float az = (float)(-180 + 360 * rng_uniform(&rng)), el = (float)(-10 + 55 * rng_uniform(&rng));
            vkd_camera cam = vkd_camera_orbit(&(vkd_orbit_desc){.azimuth_deg = az, .elevation_deg = el,
                                                                .distance = (float)(2.4 + 0.4 * rng_uniform(&rng)),
                                                                .fov_y_deg = 49.1f, .width = SIZE, .height = SIZE});
            vkd_shape_render(&o, &cam, NULL, img, NULL);
            char caption[128] = "";
            if (rng_uniform(&rng) >= 0.1)  // classifier-free guidance: 10% unconditional
                snprintf(caption, sizeof caption, "a %s %s, %s view", vkd_shape_color_name(o.color),
                         vkd_shape_name(o.shape), view_of(az, el));
            int n = 0;
            bool trunc = false;
            vkd_tokenizer_encode_padded(tok, caption, ids + (size_t)b * T, &n, &trunc, &err);
            int t = (int)(rng_u64(&rng) % T_STEPS);
            ts[b] = (float)t;
            double sa = sqrt(abar[t]), sb = sqrt(1 - abar[t]);
            for (size_t i = 0; i < (size_t)3 * SIZE * SIZE; i++) {
                float e = (float)rng_normal(&rng);
                eps[b * 3 * SIZE * SIZE + i] = e;
                xt[b * 3 * SIZE * SIZE + i] = (float)(sa * (2 * img[i] - 1) + sb * e);
            }
        }
        vkd_status st = vkd_clip_encode(&clip, &text_p, &a, bc.addr, 0, ids, B, T, 0, &err);
        if (!st) st = vkd_buffer_upload(gpu, &bx, 0, xt, nimg * 4, &err);
        if (!st) st = vkd_buffer_upload(gpu, &be, 0, eps, nimg * 4, &err);
        if (!st) st = vkd_buffer_upload(gpu, &bt, 0, ts, B * 4, &err);
        if (st) {
            fprintf(stderr, "\ntrain_prior: %s\n", err.msg);
            break;
        }
        vkd_arena_reset(&a);
        vkd_unet_saved* sv = vkd_unet_saved_new();
        vkd_addr pred = vkd_arena_alloc(&a, s, nimg), dpred = vkd_arena_zeros(&a, s, nimg);
        vkd_addr one = vkd_arena_alloc(&a, s, 1);
        vkd_addr scratch = vkd_arena_alloc(&a, s, (vkd_sum_scratch_bytes((uint32_t)nimg) + 3) / 4);
        vkd_stream_fill(s, one, 1, 0x3F800000u);
        vkd_params_zero_grad(&unet_p, s);
        vkd_unet_forward(&unet, &unet_p, NULL, s, &a, pred, bx.addr, bt.addr, bc.addr, 0, B, SIZE, SIZE, T, sv, NULL);
        vkd_mse_loss_forward(s, bl.addr, scratch, pred, be.addr, (uint32_t)nimg);
        vkd_mse_loss_backward(s, dpred, 0, one, pred, be.addr, (uint32_t)nimg);
        vkd_unet_backward(&unet, &unet_p, NULL, s, &a, 0, 0, 0, dpred, sv);
        // AdamW with a short warm-up.
        float lr_now = lr * (step < 200 ? (float)(step + 1) / 200.0f : 1.0f);
        vkd_adam_desc ad = {.lr = lr_now, .weight_decay = 1e-4f, .decoupled = true};
        vkd_adam_step(s, unet_p.data.addr, unet_p.adam_m.addr, unet_p.adam_v.addr, unet_p.grad.addr, 0,
                      (uint32_t)unet_p.total, step + 1, &ad);
        st = vkd_stream_submit(s, &err);
        vkd_unet_saved_free(sv);
        float loss = NAN;
        if (!st) st = vkd_buffer_download(gpu, &bl, 0, &loss, 4, &err);
        if (st) {
            fprintf(stderr, "\ntrain_prior: %s\n", err.msg);
            break;
        }
        ema = step == 0 || ema == 0 ? loss : 0.98 * ema + 0.02 * loss;
        double el = now_s() - t0;
        if (log) fprintf(log, "%u,%.5f,%.1f\n", step + 1, loss, el);
        if ((step + 1) % 10 == 0)
            fprintf(stderr, "\rtrain_prior: step %u/%u | loss %.4f (ema %.4f) | %.2f it/s   ", step + 1, steps, loss, ema,
                    (step + 1 - (resume ? 0 : 0)) / (el > 0 ? el : 1));
        if ((step + 1) % 200 == 0 || step + 1 == steps || stop) {
            const char* meta[] = {"step", NULL, NULL};
            char stepbuf[32];
            snprintf(stepbuf, sizeof stepbuf, "%u", step + 1);
            meta[1] = stepbuf;
            snprintf(path, sizeof path, "%s/train.safetensors", out);
            vkd_params_save(&unet_p, path, false, meta, &err);
            // Adam moments as two files shaped like the parameters.
            vkd_buffer keep = unet_p.data;
            unet_p.data = unet_p.adam_m;
            snprintf(path, sizeof path, "%s/train_m.safetensors", out);
            vkd_params_save(&unet_p, path, false, meta, &err);
            unet_p.data = unet_p.adam_v;
            snprintf(path, sizeof path, "%s/train_v.safetensors", out);
            vkd_params_save(&unet_p, path, false, meta, &err);
            unet_p.data = keep;
            if (!save_folder(out, &unet_p, &text_p, vocab, step + 1, &err))
                fprintf(stderr, "\ntrain_prior: saving %s failed: %s\n", out, err.msg);
            if (log) fflush(log);
        }
    }
    fprintf(stderr, "\ntrain_prior: stopped at step %u, loss ema %.4f, %.1f s\n", step, ema, now_s() - t0);
    if (log) fclose(log);
    return 0;
}
