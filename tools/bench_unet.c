// bench_unet: Stable Diffusion's heavy parts with their real shapes and random weights:
//   UNet rows    the conditional UNet (include/vkdream/prior/unet_cond.h), B = 2 (one
//                classifier-free-guidance pair), 77 context tokens, fp32 or fp16 weights;
//   VAE row      the VAE encoder (include/vkdream/prior/vae.h) on one image, forward and
//                forward + backward to the image (what latent-space SDS runs every step);
//   SDS row      (--memory-only) the device memory of one SDS step of the whole model: text
//                encoder + UNet + VAE parameters, VAE encode with its saved state, the CFG
//                pair through the UNet, the encoder backward, then a preview decode; the
//                first step's peak, and what later steps hold once the arenas are compacted.
//   bench_unet [--model sd15|sd21|both] [--precision f32|f16|both] [--size LATENT]
//              [--vae-size N] [--reps N] [--channels-div N] [--memory-only [--max-sds-mib N]]
//              [--device NAME]
// Models: sd15 = SD-1.5 (block_out_channels 320/640/1280/1280, cross-attention in down blocks
// 0-2, up blocks 1-3 and the mid block, 2 layers per block, 768-wide context, 8 heads, 1x1-conv
// projections); sd21 = SD-2.1-base (the same with a 1024-wide context, heads 5/10/20/20 = head
// dim 64, linear projections). --size is the latent size (64 = 512x512 images); default 64, or
// 16 on a CPU device. --vae-size is the VAE image size: default 512, or 128 on a CPU device; 0
// leaves the VAE out. Precision f16: the frozen weights are stored as fp16 (vkd_params.f16),
// the arithmetic stays fp32. Columns:
//   fwd ms      one inference forward (saved NULL), record + submit + wait
//   fwd+bwd ms  forward keeping its saved state + backward to the input only (SDS: the
//               parameters are frozen, allocated without gradients)
//   GFLOP/s     estimated FLOPs / time. Forward: 2 x the MACs of every convolution, linear layer
//               and attention product (norms and element-wise ops not counted). Backward: the
//               input-gradient products only (same MACs as the forward's convolutions and
//               linears, minus the context's k/v projections and the time embedding; 2x the
//               attention products), not any recomputation the implementation does.
//   peak MiB    vkd_gpu_peak_allocated_bytes after the forward runs / after the fwd+bwd runs
//               (each row runs in its own device context, so the peak is its own; it includes
//               the parameters); arena MiB: the arenas' peak of live bytes (the rest of the
//               arena chunks is tail space a chunk could not fit).
// Each timing runs once to warm up (pipelines, arena chunks) and then reports the best of --reps.
// --memory-only records every pass without submitting it (allocation happens while recording,
// so the peak is the same) at the full sizes (latent 64, VAE 512): device memory for cards
// this machine does not have. --channels-div N divides the UNet's block_out_channels by N
// (heads kept), rows named sd15/N, sd21/N. --max-sds-mib N makes the exit status 1 when an SDS
// step's first-step peak exceeds N MiB (CTest: SD-1.5 with fp16 weights within 8 GiB).
#define _POSIX_C_SOURCE 200809L
#include "vkdream/nn/arena.h"
#include "vkdream/nn/params.h"
#include "vkdream/prior/clip.h"
#include "vkdream/prior/unet_cond.h"
#include "vkdream/prior/vae.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define BATCH 2
#define TOKENS 77

static double now_ms(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1e3 + ts.tv_nsec * 1e-6;
}

static double mib(uint64_t b) { return (double)b / (1024.0 * 1024.0); }

static void desc_for(const char* model, uint32_t div, vkd_unet_desc* d) {
    bool sd21 = !strcmp(model, "sd21");
    *d = (vkd_unet_desc){
        .in_channels = 4,
        .out_channels = 4,
        .num_blocks = 4,
        .block_out_channels = {320 / div, 640 / div, 1280 / div, 1280 / div},
        .cross_down = {true, true, true, false},
        .cross_up = {false, true, true, true},
        .mid_cross = true,
        .layers_per_block = 2,
        .heads = {8, 8, 8, 8},
        .cross_attention_dim = sd21 ? 1024 : 768,
        .linear_projection = sd21,
        .norm_groups = 32,
        .norm_eps = 1e-5f,
        .flip_sin_to_cos = true,
        .freq_shift = 0,
        .prediction = sd21 ? VKD_UNET_V_PREDICTION : VKD_UNET_EPSILON,
    };
    if (sd21) d->heads[0] = 5, d->heads[1] = 10, d->heads[2] = 20, d->heads[3] = 20;
}

// MAC counts of one forward, split by what the input-only backward has to redo.
typedef struct macs {
    double lin;       // convolutions and linear layers whose input gradient the backward needs
    double lin_fwd;   // forward-only ones: time embedding MLP, resnet temb projections, context k/v
    double att;       // attention products (QK^T and PV)
} macs;

static void resnet_macs(macs* m, double B, double hw, double cin, double cout, double D) {
    m->lin += B * hw * 9 * (cin * cout + cout * cout);
    if (cin != cout) m->lin += B * hw * cin * cout;  // 1x1 shortcut
    m->lin_fwd += B * D * cout;                      // time embedding projection
}

static void xformer_macs(macs* m, double B, double n, double c, double T, double dc) {
    m->lin += B * n * c * c * (2 + 4 + 2 + 12);  // proj_in/out, self q k v o, cross q o, GEGLU ff (c->8c, 4c->c)
    m->lin_fwd += B * T * dc * c * 2;            // cross k, v from the context
    m->att += B * (2 * n * n * c + 2 * n * T * c);
}

static macs unet_macs(const vkd_unet_desc* d, uint32_t H, uint32_t W) {
    macs m = {0};
    double B = BATCH, T = TOKENS, dc = d->cross_attention_dim;
    uint32_t nb = d->num_blocks, L = d->layers_per_block;
    double c0 = d->block_out_channels[0], D = 4 * c0;
    double hw[VKD_UNET_MAX_BLOCKS] = {0};
    for (uint32_t i = 0, h = H, w = W; i < nb; i++, h = (h + 1) / 2, w = (w + 1) / 2) hw[i] = (double)h * w;
    m.lin_fwd += B * (c0 * D + D * D);
    m.lin += B * hw[0] * 9 * d->in_channels * c0;
    double ch = c0;
    for (uint32_t i = 0; i < nb; i++) {
        double out = d->block_out_channels[i];
        for (uint32_t j = 0; j < L; j++) {
            resnet_macs(&m, B, hw[i], j ? out : ch, out, D);
            if (d->cross_down[i]) xformer_macs(&m, B, hw[i], out, T, dc);
        }
        if (i + 1 < nb) m.lin += B * hw[i + 1] * 9 * out * out;  // stride-2 conv
        ch = out;
    }
    double top = d->block_out_channels[nb - 1];
    resnet_macs(&m, B, hw[nb - 1], top, top, D);
    resnet_macs(&m, B, hw[nb - 1], top, top, D);
    if (d->mid_cross) xformer_macs(&m, B, hw[nb - 1], top, T, dc);
    double prev = top;
    for (uint32_t i = 0; i < nb; i++) {
        uint32_t lvl = nb - 1 - i;
        double out = d->block_out_channels[lvl];
        double inc = d->block_out_channels[nb - 1 - (i + 1 < nb ? i + 1 : i)];
        for (uint32_t j = 0; j <= L; j++) {
            resnet_macs(&m, B, hw[lvl], (j ? out : prev) + (j == L ? inc : out), out, D);
            if (d->cross_up[i]) xformer_macs(&m, B, hw[lvl], out, T, dc);
        }
        if (i + 1 < nb) m.lin += B * hw[lvl - 1] * 9 * out * out;  // nearest 2x, then conv
        prev = out;
    }
    m.lin += B * hw[0] * 9 * c0 * d->out_channels;
    return m;
}

static bool upload_normal(vkd_gpu* gpu, vkd_buffer* b, size_t n, uint64_t* state, float scale, vkd_error* e) {
    float* h = malloc(n * sizeof *h);
    if (!h) return false;
    for (size_t i = 0; i < n; i += 2) {  // Box-Muller on a splitmix64 stream
        double u[2];
        for (int k = 0; k < 2; k++) {
            uint64_t z = (*state += 0x9E3779B97F4A7C15ull);
            z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
            z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
            u[k] = ((double)((z ^ (z >> 31)) >> 11) + 0.5) / 9007199254740992.0;
        }
        double r = sqrt(-2.0 * log(u[0]));
        h[i] = (float)(scale * r * cos(6.283185307179586 * u[1]));
        if (i + 1 < n) h[i + 1] = (float)(scale * r * sin(6.283185307179586 * u[1]));
    }
    bool ok = !vkd_buffer_alloc(gpu, n * sizeof *h, b, e) && !vkd_buffer_upload(gpu, b, 0, h, n * sizeof *h, e);
    free(h);
    return ok;
}
// MACs of the VAE encoder on a B x 3 x H x W image (lin: convolutions and linear layers,
// att: the mid-block attention products); quant_conv included.
static macs vae_encoder_macs(const vkd_vae_desc* d, double B, uint32_t H, uint32_t W) {
    macs m = {0};
    double hw = (double)H * W, ch = d->block_out_channels[0];
    m.lin += B * hw * 9 * d->in_channels * ch;
    for (uint32_t i = 0; i < d->num_blocks; i++) {
        double out = d->block_out_channels[i];
        for (uint32_t j = 0; j < d->layers_per_block; j++) resnet_macs(&m, B, hw, j ? out : ch, out, 0);
        ch = out;
        if (i + 1 < d->num_blocks) {
            hw /= 4;
            m.lin += B * hw * 9 * out * out;  // 3x3 stride 2
        }
    }
    resnet_macs(&m, B, hw, ch, ch, 0);
    resnet_macs(&m, B, hw, ch, ch, 0);
    if (!d->no_mid_attention) {
        m.lin += B * hw * ch * ch * 4;  // q, k, v, out
        m.att += B * 2 * hw * hw * ch;
    }
    double L2 = 2.0 * d->latent_channels;
    m.lin += B * hw * 9 * ch * L2 + B * hw * L2 * L2;
    return m;
}

typedef enum row_kind { ROW_UNET, ROW_VAE, ROW_SDS } row_kind;

typedef struct row {
    row_kind kind;
    char name[32];
    bool f16;
    uint32_t size;  // latent size (UNet) or image size (VAE, SDS)
    double params_m, params_mib, fwd_gflop, bwd_gflop;
    double fwd_ms, fb_ms, peak_fwd, peak_fb;
    double live_fwd, live_fb;  // the arenas' peak of live bytes (what the passes hold at once)
    bool ok;
    char err[1200];
} row;

typedef struct bench {
    const char* device;
    uint32_t reps;
    bool memory_only;
    vkd_gpu* gpu;
    vkd_stream* s;
    vkd_error e;
} bench;

static const char* DROPPED = "memory-only: the recorded passes are dropped";

// Runs what s recorded, or with --memory-only drops it: every allocation was made while
// recording, so the peak is already what running it would need.
static vkd_status finish(bench* b) {
    if (!b->memory_only) return vkd_stream_submit(b->s, &b->e);
    vkd_stream_fail(b->s, VKD_ERR_INVALID, "%s", DROPPED);
    vkd_status st = vkd_stream_submit(b->s, &b->e);
    if (st && !strcmp(b->e.msg, DROPPED)) {
        memset(&b->e, 0, sizeof b->e);
        return VKD_OK;
    }
    return st;
}

// One pass of a row: records work into s, its temporaries from the arenas.
typedef void (*pass_fn)(void* job, vkd_stream* s);
typedef void (*reset_fn)(void* job);

// Warm-up, then the best of reps timed runs (one recording without a run with --memory-only).
static bool time_pass(bench* b, void* job, pass_fn pass, reset_fn reset, double* best_ms) {
    *best_ms = b->memory_only ? NAN : INFINITY;
    for (uint32_t it = 0; it <= (b->memory_only ? 0 : b->reps); it++) {
        reset(job);
        double t0 = now_ms();
        pass(job, b->s);
        if (finish(b)) return false;
        double dt = now_ms() - t0;
        if (it && dt < *best_ms) *best_ms = dt;
    }
    return true;
}

static bool bench_open(bench* b, row* r, const char* what) {
    memset(&b->e, 0, sizeof b->e);
    b->gpu = NULL, b->s = NULL;
    if (vkd_gpu_create(&(vkd_gpu_desc){.device = b->device}, &b->gpu, &b->e) || vkd_stream_create(b->gpu, &b->s, &b->e)) {
        snprintf(r->err, sizeof r->err, "device: %s", b->e.msg);
        return false;
    }
    fprintf(stderr, "bench_unet: %s %s%s on %s\n", what, r->name, r->f16 ? " fp16" : " fp32",
            vkd_gpu_get_info(b->gpu)->name);
    return true;
}

static void bench_close(bench* b) {
    if (b->s) vkd_stream_destroy(b->s);
    if (b->gpu) vkd_gpu_destroy(b->gpu);
    b->s = NULL, b->gpu = NULL;
}

// The two passes of a UNet or VAE row: timings, device peaks and the arena's live peaks.
// Returns NULL, or the name of the pass that failed.
static const char* measure_pair(bench* b, row* r, void* job, pass_fn fwd, pass_fn fb, reset_fn reset,
                                const vkd_arena* a, const char* fwd_name, const char* fb_name) {
    if (!time_pass(b, job, fwd, reset, &r->fwd_ms)) return fwd_name;
    r->peak_fwd = mib(vkd_gpu_peak_allocated_bytes(b->gpu));
    r->live_fwd = mib(a->peak_bytes);
    if (!time_pass(b, job, fb, reset, &r->fb_ms)) return fb_name;
    r->peak_fb = mib(vkd_gpu_peak_allocated_bytes(b->gpu));
    r->live_fb = mib(a->peak_bytes);
    return NULL;
}

static void free_buffers(bench* b, vkd_buffer* bufs, int n) {
    for (int i = 0; i < n; i++)
        if (bufs[i].addr) vkd_buffer_free(b->gpu, &bufs[i]);
}

// Frozen random parameters, fp16 on request (--memory-only: contents left undefined).
static bool make_params(bench* b, vkd_params* p, bool f16, row* r) {
    uint64_t np = 0;
    for (uint32_t i = 0; i < p->count; i++) np += p->items[i].count;
    r->params_m += np / 1e6;
    p->f16 = f16;
    if (vkd_params_alloc(b->gpu, p, false, &b->e) || (!b->memory_only && vkd_params_init_random(p, 1, &b->e)))
        return false;
    r->params_mib += mib(vkd_params_bytes(p));
    return true;
}

static vkd_addr input(bench* b, vkd_buffer* buf, size_t n, uint64_t* rng) {
    if (b->memory_only) return vkd_buffer_alloc(b->gpu, n * sizeof(float), buf, &b->e) ? 0 : buf->addr;
    return upload_normal(b->gpu, buf, n, rng, 1.0f, &b->e) ? buf->addr : 0;
}

// --- UNet ---

typedef struct unet_job {
    vkd_unet m;
    vkd_params p;
    vkd_arena a;
    uint32_t S;
    vkd_addr sample, ts, ctx, out, dout, dsample;
} unet_job;

static void unet_reset(void* j) { vkd_arena_reset(&((unet_job*)j)->a); }

static void unet_fwd(void* jp, vkd_stream* s) {
    unet_job* j = jp;
    vkd_unet_forward(&j->m, &j->p, NULL, s, &j->a, j->out, j->sample, j->ts, j->ctx, 0, BATCH, j->S, j->S, TOKENS, NULL,
                     NULL);
}

static void unet_fb(void* jp, vkd_stream* s) {
    unet_job* j = jp;
    vkd_unet_saved* sv = vkd_unet_saved_new();
    if (!sv) {
        vkd_stream_fail(s, VKD_ERR_OUT_OF_MEMORY, "out of host memory");
        return;
    }
    vkd_stream_fill(s, j->dsample, (uint32_t)(BATCH * 4 * j->S * j->S), 0);
    vkd_unet_forward(&j->m, &j->p, NULL, s, &j->a, j->out, j->sample, j->ts, j->ctx, 0, BATCH, j->S, j->S, TOKENS, sv,
                     NULL);
    vkd_unet_backward(&j->m, &j->p, NULL, s, &j->a, j->dsample, 0, 0, j->dout, sv);
    vkd_unet_saved_free(sv);  // holds arena addresses only; the stream keeps the recorded work
}

static void run_unet(bench* b, const char* model, uint32_t div, uint32_t size, bool f16, row* r) {
    memset(r, 0, sizeof *r);
    r->kind = ROW_UNET, r->f16 = f16;
    snprintf(r->name, sizeof r->name, div > 1 ? "%s/%u" : "%s", model, div);
    unet_job j = {0};
    vkd_buffer bufs[6] = {{0}};
    const char* stage = "device";
    if (!bench_open(b, r, "UNet")) return;
    j.a.gpu = b->gpu;
    const vkd_gpu_info* info = vkd_gpu_get_info(b->gpu);
    uint32_t S = j.S = r->size = size ? size : b->memory_only || info->kind != VKD_DEVICE_CPU ? 64 : 16;
    vkd_unet_desc d;
    desc_for(model, div, &d);
    stage = "declare";
    if (vkd_unet_declare(&j.m, &j.p, NULL, "", &d, &b->e)) goto fail;
    macs mc = unet_macs(&j.m.d, S, S);
    r->fwd_gflop = 2e-9 * (mc.lin + mc.lin_fwd + mc.att);
    r->bwd_gflop = 2e-9 * (mc.lin + 2 * mc.att);
    stage = "parameters";
    if (!make_params(b, &j.p, f16, r)) goto fail;
    stage = "inputs";
    size_t nimg = (size_t)BATCH * 4 * S * S;
    uint64_t rng = 12345;
    float th[BATCH] = {500.0f, 500.0f};  // a CFG pair shares its timestep
    j.sample = input(b, &bufs[0], nimg, &rng);
    j.ctx = input(b, &bufs[1], (size_t)BATCH * TOKENS * d.cross_attention_dim, &rng);
    j.dout = input(b, &bufs[2], nimg, &rng);
    if (!j.sample || !j.ctx || !j.dout || vkd_buffer_alloc(b->gpu, sizeof th, &bufs[3], &b->e) ||
        vkd_buffer_upload(b->gpu, &bufs[3], 0, th, sizeof th, &b->e) ||
        vkd_buffer_alloc(b->gpu, nimg * 4, &bufs[4], &b->e) || vkd_buffer_alloc(b->gpu, nimg * 4, &bufs[5], &b->e))
        goto fail;
    j.ts = bufs[3].addr, j.out = bufs[4].addr, j.dsample = bufs[5].addr;
    if ((stage = measure_pair(b, r, &j, unet_fwd, unet_fb, unet_reset, &j.a, "forward", "forward + backward")))
        goto fail;
    r->ok = true;
    goto done;
fail:
    snprintf(r->err, sizeof r->err, "%s: %s", stage, b->e.msg);
done:
    free_buffers(b, bufs, 6);
    vkd_arena_free(&j.a);
    vkd_params_free(&j.p);
    bench_close(b);
}

// --- VAE encoder ---

typedef struct vae_job {
    vkd_vae m;
    vkd_params p;
    vkd_arena a;
    uint32_t S;
    vkd_addr image, moments, dmoments, dimage;
} vae_job;

static void vae_reset(void* j) { vkd_arena_reset(&((vae_job*)j)->a); }

static void vae_fwd(void* jp, vkd_stream* s) {
    vae_job* j = jp;
    vkd_vae_encode_forward(&j->m, &j->p, s, &j->a, j->moments, j->image, 1, j->S, j->S, NULL);
}

static void vae_fb(void* jp, vkd_stream* s) {
    vae_job* j = jp;
    vkd_vae_encode_saved* sv = calloc(1, sizeof *sv);
    if (!sv) {
        vkd_stream_fail(s, VKD_ERR_OUT_OF_MEMORY, "out of host memory");
        return;
    }
    vkd_stream_fill(s, j->dimage, 3 * j->S * j->S, 0);
    vkd_vae_encode_forward(&j->m, &j->p, s, &j->a, j->moments, j->image, 1, j->S, j->S, sv);
    vkd_vae_encode_backward(&j->m, &j->p, s, &j->a, j->dimage, j->dmoments, sv);
    free(sv);
}

static void run_vae(bench* b, uint32_t size, bool f16, row* r) {
    memset(r, 0, sizeof *r);
    r->kind = ROW_VAE, r->f16 = f16, r->size = size;
    snprintf(r->name, sizeof r->name, "vae encoder");
    vae_job j = {0};
    vkd_buffer bufs[4] = {{0}};
    const char* stage = "device";
    if (!bench_open(b, r, "VAE")) return;
    j.a.gpu = b->gpu;
    j.S = size;
    stage = "declare";
    if (vkd_vae_declare(&j.m, &j.p, "", &(vkd_vae_desc){.no_decoder = true}, &b->e)) goto fail;
    macs mc = vae_encoder_macs(&j.m.d, 1, size, size);
    r->fwd_gflop = 2e-9 * (mc.lin + mc.att);
    r->bwd_gflop = 2e-9 * (mc.lin + 2 * mc.att);
    stage = "parameters";
    if (!make_params(b, &j.p, f16, r)) goto fail;
    stage = "inputs";
    uint32_t h, w;
    vkd_vae_latent_size(&j.m, size, size, &h, &w);
    size_t nimg = (size_t)3 * size * size, nmom = (size_t)2 * j.m.d.latent_channels * h * w;
    uint64_t rng = 777;
    j.image = input(b, &bufs[0], nimg, &rng);
    j.dmoments = input(b, &bufs[1], nmom, &rng);
    if (!j.image || !j.dmoments || vkd_buffer_alloc(b->gpu, nmom * 4, &bufs[2], &b->e) ||
        vkd_buffer_alloc(b->gpu, nimg * 4, &bufs[3], &b->e))
        goto fail;
    j.moments = bufs[2].addr, j.dimage = bufs[3].addr;
    if ((stage = measure_pair(b, r, &j, vae_fwd, vae_fb, vae_reset, &j.a, "encode", "encode + backward"))) goto fail;
    r->ok = true;
    goto done;
fail:
    snprintf(r->err, sizeof r->err, "%s: %s", stage, b->e.msg);
done:
    free_buffers(b, bufs, 4);
    vkd_arena_free(&j.a);
    vkd_params_free(&j.p);
    bench_close(b);
}

// --- One SDS step of the whole model (memory) ---

typedef struct sds_job {
    vkd_clip clip;
    vkd_unet unet;
    vkd_vae vae;
    vkd_params text_p, unet_p, vae_p;
    vkd_arena pred, enc;  // as the SD prior has them: UNet, text encoder and decoder / VAE encoder
    uint32_t R, h, w;     // render size, latent size
    vkd_addr ids, image, moments, dmoments, dimage, z, ts, ctx, eps, decoded;
} sds_job;

static void sds_reset(void* jp) {
    sds_job* j = jp;
    vkd_arena_reset(&j->pred);
    vkd_arena_reset(&j->enc);
}

static void sds_step(void* jp, vkd_stream* s) {
    sds_job* j = jp;
    vkd_clip_condition(&j->clip, &j->text_p, s, &j->pred, j->ctx, j->ids, BATCH, TOKENS, 0);
    vkd_vae_encode_saved* sv = calloc(1, sizeof *sv);
    if (!sv) {
        vkd_stream_fail(s, VKD_ERR_OUT_OF_MEMORY, "out of host memory");
        return;
    }
    vkd_vae_encode_forward(&j->vae, &j->vae_p, s, &j->enc, j->moments, j->image, 1, j->R, j->R, sv);
    vkd_unet_forward(&j->unet, &j->unet_p, NULL, s, &j->pred, j->eps, j->z, j->ts, j->ctx, 0, BATCH, j->h, j->w, TOKENS,
                     NULL, NULL);
    vkd_vae_encode_backward(&j->vae, &j->vae_p, s, &j->enc, j->dimage, j->dmoments, sv);
    free(sv);
    vkd_vae_decode_forward(&j->vae, &j->vae_p, s, &j->pred, j->decoded, j->z, 1, j->h, j->w, NULL);
}

static void run_sds(bench* b, const char* model, uint32_t render, bool f16, row* r) {
    memset(r, 0, sizeof *r);
    r->kind = ROW_SDS, r->f16 = f16, r->size = render;
    snprintf(r->name, sizeof r->name, "%s", model);
    sds_job j = {0};
    vkd_buffer bufs[10] = {{0}};
    const char* stage = "device";
    if (!bench_open(b, r, "SDS step")) return;
    j.pred.gpu = j.enc.gpu = b->gpu;
    j.R = render;
    bool sd21 = !strcmp(model, "sd21");
    vkd_unet_desc ud;
    desc_for(model, 1, &ud);
    vkd_clip_desc cd = {.kind = sd21 ? VKD_CLIP_OPENCLIP_H : VKD_CLIP_HF, .num_layers = sd21 ? 23 : 0};
    stage = "declare";
    if (vkd_clip_declare(&j.clip, &j.text_p, "", &cd, &b->e) || vkd_unet_declare(&j.unet, &j.unet_p, NULL, "", &ud, &b->e) ||
        vkd_vae_declare(&j.vae, &j.vae_p, "", &(vkd_vae_desc){0}, &b->e))
        goto fail;
    stage = "parameters";
    if (!make_params(b, &j.text_p, f16, r) || !make_params(b, &j.unet_p, f16, r) || !make_params(b, &j.vae_p, f16, r))
        goto fail;
    stage = "inputs";
    vkd_vae_latent_size(&j.vae, render, render, &j.h, &j.w);
    size_t nimg = (size_t)3 * render * render, nz = (size_t)4 * j.h * j.w;
    size_t sizes[10] = {BATCH * TOKENS, nimg, 2 * nz, 2 * nz, nimg, BATCH * nz, BATCH, (size_t)BATCH * TOKENS * ud.cross_attention_dim,
                        BATCH * nz, nimg};
    for (int i = 0; i < 10; i++)
        if (vkd_buffer_alloc(b->gpu, sizes[i] * 4, &bufs[i], &b->e)) goto fail;
    j.ids = bufs[0].addr, j.image = bufs[1].addr, j.moments = bufs[2].addr, j.dmoments = bufs[3].addr;
    j.dimage = bufs[4].addr, j.z = bufs[5].addr, j.ts = bufs[6].addr, j.ctx = bufs[7].addr, j.eps = bufs[8].addr;
    j.decoded = bufs[9].addr;
    stage = "step";
    if (!time_pass(b, &j, sds_step, sds_reset, &r->fwd_ms)) goto fail;
    r->peak_fwd = mib(vkd_gpu_peak_allocated_bytes(b->gpu));
    // Later steps: the SD prior compacts its arenas after the first (vkd_arena_compact).
    sds_reset(&j);
    vkd_arena_compact(&j.pred);
    vkd_arena_compact(&j.enc);
    sds_step(&j, b->s);
    if (finish(b)) goto fail;
    r->peak_fb = mib(vkd_gpu_allocated_bytes(b->gpu));
    r->live_fwd = r->live_fb = mib(j.pred.peak_bytes + j.enc.peak_bytes);
    r->ok = true;
    goto done;
fail:
    snprintf(r->err, sizeof r->err, "%s: %s", stage, b->e.msg);
done:
    free_buffers(b, bufs, 10);
    vkd_arena_free(&j.pred);
    vkd_arena_free(&j.enc);
    vkd_params_free(&j.text_p);
    vkd_params_free(&j.unet_p);
    vkd_params_free(&j.vae_p);
    bench_close(b);
}

// --- Output ---

static void ms_cell(char* buf, size_t n, double ms) {
    if (isnan(ms)) snprintf(buf, n, "-");
    else snprintf(buf, n, "%.1f", ms);
}

static void rate_cell(char* buf, size_t n, double gflop, double ms) {
    if (isnan(ms)) snprintf(buf, n, "-");
    else snprintf(buf, n, "%.1f", gflop / (ms * 1e-3));
}

static int print_rows(const row* rows, int nr, row_kind kind) {
    int rc = 0, shown = 0;
    for (int i = 0; i < nr; i++) {
        const row* r = &rows[i];
        if (r->kind != kind) continue;
        if (!shown++) {
            if (kind == ROW_UNET)
                printf("\n| UNet | weights | latent | params M | params MiB | fwd ms | fwd GFLOP/s | fwd+bwd ms | "
                       "fwd+bwd GFLOP/s | peak MiB fwd / fwd+bwd | arena MiB fwd / fwd+bwd |\n"
                       "|---|---|---|---|---|---|---|---|---|---|---|\n");
            else if (kind == ROW_VAE)
                printf("\n| VAE | weights | image | params M | params MiB | encode ms | GFLOP/s | encode+bwd ms | "
                       "GFLOP/s | peak MiB fwd / fwd+bwd | arena MiB fwd / fwd+bwd |\n|---|---|---|---|---|---|---|---|---|---|---|\n");
            else
                printf("\n| SDS step (text encoder + UNet + VAE) | weights | render | params M | params MiB | "
                       "peak MiB first step | MiB later steps | arena MiB | fits 8 GiB |\n"
                       "|---|---|---|---|---|---|---|---|---|\n");
        }
        const char* wt = r->f16 ? "fp16" : "fp32";
        if (!r->ok) {
            printf("| %s | %s | %u | %.1f | %.0f | failed: %s |\n", r->name, wt, r->size, r->params_m, r->params_mib,
                   r->err);
            rc = 1;
            continue;
        }
        char f[32], fr[32], fb[32], fbr[32];
        ms_cell(f, sizeof f, r->fwd_ms), ms_cell(fb, sizeof fb, r->fb_ms);
        rate_cell(fr, sizeof fr, r->fwd_gflop, r->fwd_ms), rate_cell(fbr, sizeof fbr, r->fwd_gflop + r->bwd_gflop, r->fb_ms);
        if (kind == ROW_SDS)
            printf("| %s | %s | %ux%u | %.1f | %.0f | %.0f | %.0f | %.0f | %s |\n", r->name, wt, r->size, r->size,
                   r->params_m, r->params_mib, r->peak_fwd, r->peak_fb, r->live_fwd, r->peak_fwd <= 8192.0 ? "yes" : "no");
        else
            printf("| %s | %s | %ux%u | %.1f | %.0f | %s | %s | %s | %s | %.0f / %.0f | %.0f / %.0f |\n", r->name, wt,
                   r->size, r->size, r->params_m, r->params_mib, f, fr, fb, fbr, r->peak_fwd, r->peak_fb, r->live_fwd,
                   r->live_fb);
    }
    return rc;
}

static void usage(FILE* f) {
    fprintf(f,
            "usage: bench_unet [--model sd15|sd21|both] [--precision f32|f16|both] [--size LATENT] [--vae-size N]\n"
            "                  [--reps N] [--channels-div N] [--memory-only] [--device NAME]\n"
            "  Stable Diffusion with real shapes and random weights:\n"
            "  UNet (SD-1.5 / SD-2.1-base, B = 2, 77 tokens): inference forward and forward + backward to the input;\n"
            "  VAE encoder on one image: encode and encode + backward to the image.\n"
            "  --precision: weight storage (f16: frozen weights in fp16, math in fp32; default both)\n"
            "  --size: latent size (default 64, or 16 on a CPU device); --vae-size: image size (default 512, or\n"
            "  128 on a CPU device; 0 = no VAE row); --reps: timed runs after one warm-up, best reported (default 3);\n"
            "  --channels-div: divide the UNet's block_out_channels by N (a narrower model);\n"
            "  --memory-only: record without running, full sizes, plus one SDS step of the whole model at 512x512\n"
            "  renders: peak device memory for cards this machine does not have; --max-sds-mib N: exit 1 when\n"
            "  an SDS step's first-step peak exceeds N MiB.\n");
}

int main(int argc, char** argv) {
    const char* model = "both";
    const char* precision = "both";
    bench b = {.reps = 3};
    uint32_t size = 0, div = 1;
    int64_t vae_size = -1;
    double max_sds_mib = 0;
    for (int i = 1; i < argc; i++) {
        const char* a = argv[i];
        const char* v = i + 1 < argc ? argv[i + 1] : NULL;
        if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
            usage(stdout);
            return 0;
        } else if (!strcmp(a, "--memory-only")) {
            b.memory_only = true;
        } else if (v && !strcmp(a, "--model")) {
            model = v, i++;
        } else if (v && !strcmp(a, "--precision")) {
            precision = v, i++;
        } else if (v && !strcmp(a, "--size")) {
            size = (uint32_t)strtoul(v, NULL, 10), i++;
        } else if (v && !strcmp(a, "--vae-size")) {
            vae_size = strtol(v, NULL, 10), i++;
        } else if (v && !strcmp(a, "--max-sds-mib")) {
            max_sds_mib = strtod(v, NULL), i++;
        } else if (v && !strcmp(a, "--reps")) {
            b.reps = (uint32_t)strtoul(v, NULL, 10), i++;
        } else if (v && !strcmp(a, "--channels-div")) {
            div = (uint32_t)strtoul(v, NULL, 10), i++;
        } else if (v && !strcmp(a, "--device")) {
            b.device = v, i++;
        } else {
            usage(stderr);
            return 2;
        }
    }
    bool sd15 = !strcmp(model, "sd15") || !strcmp(model, "both");
    bool sd21 = !strcmp(model, "sd21") || !strcmp(model, "both");
    bool p32 = !strcmp(precision, "f32") || !strcmp(precision, "both");
    bool p16 = !strcmp(precision, "f16") || !strcmp(precision, "both");
    // GroupNorm(32) and every head count (8; 5/10/20) must divide the narrowed widths.
    bool div_ok = div >= 1 && 320 % div == 0 && (320 / div) % 32 == 0 && (320 / div) % 5 == 0 && (320 / div) % 8 == 0;
    bool vae_ok = vae_size == -1 || (vae_size >= 0 && vae_size % 8 == 0 && vae_size <= 4096);
    if ((!sd15 && !sd21) || (!p32 && !p16) || !b.reps || (size && size % 8) || !div_ok || !vae_ok) {
        fprintf(stderr, "bench_unet: --model sd15|sd21|both, --precision f32|f16|both, --size a positive multiple of 8, "
                        "--vae-size 0 or a multiple of 8, --reps >= 1, --channels-div 1 or 2\n");
        return 2;
    }
    if (max_sds_mib > 0 && !b.memory_only) {
        fprintf(stderr, "bench_unet: --max-sds-mib needs --memory-only (the SDS rows)\n");
        return 2;
    }
    uint32_t vsize = (uint32_t)vae_size;
    if (vae_size < 0) {  // the default depends on the device
        vkd_gpu* g = NULL;
        vkd_error e = {0};
        bool cpu = !vkd_gpu_create(&(vkd_gpu_desc){.device = b.device}, &g, &e) && vkd_gpu_get_info(g)->kind == VKD_DEVICE_CPU;
        if (g) vkd_gpu_destroy(g);
        vsize = cpu && !b.memory_only ? 128 : 512;
    }
    row rows[12];
    int nr = 0;
    for (int p = 0; p < 2; p++) {
        bool f16 = p == 1;
        if (f16 ? !p16 : !p32) continue;
        if (sd15) run_unet(&b, "sd15", div, size, f16, &rows[nr++]);
        if (sd21) run_unet(&b, "sd21", div, size, f16, &rows[nr++]);
        if (vsize) run_vae(&b, vsize, f16, &rows[nr++]);
        if (b.memory_only && sd15) run_sds(&b, "sd15", 512, f16, &rows[nr++]);
        if (b.memory_only && sd21) run_sds(&b, "sd21", 512, f16, &rows[nr++]);
    }
    printf("bench_unet: random weights, fp32 arithmetic; UNet B = %d (CFG pair), %d context tokens; %s\n", BATCH,
           TOKENS, b.memory_only ? "memory only (passes recorded, not run)" : "best of the timed runs after a warm-up");
    int rc = print_rows(rows, nr, ROW_UNET);
    rc |= print_rows(rows, nr, ROW_VAE);
    rc |= print_rows(rows, nr, ROW_SDS);
    for (int i = 0; i < nr && max_sds_mib > 0; i++) {
        if (rows[i].kind != ROW_SDS || !rows[i].ok) continue;
        bool over = rows[i].peak_fwd > max_sds_mib;
        printf("%s: SDS step %s %s at %ux%u: %.0f MiB %s %.0f MiB\n", over ? "FAIL" : "ok", rows[i].name,
               rows[i].f16 ? "fp16" : "fp32", rows[i].size, rows[i].size, rows[i].peak_fwd, over ? ">" : "<=",
               max_sds_mib);
        rc |= over;
    }
    return rc;
}
