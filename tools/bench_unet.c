// bench_unet: the conditional UNet (include/vkdream/prior/unet_cond.h) with Stable Diffusion's
// shapes and random weights, B = 2 (one classifier-free-guidance pair), 77 context tokens, fp32.
//   bench_unet [--model sd15|sd21|both] [--size LATENT] [--reps N] [--channels-div N] [--device NAME]
// Models: sd15 = SD-1.5 (block_out_channels 320/640/1280/1280, cross-attention in down blocks
// 0-2, up blocks 1-3 and the mid block, 2 layers per block, 768-wide context, 8 heads, 1x1-conv
// projections); sd21 = SD-2.1-base (the same with a 1024-wide context, heads 5/10/20/20 = head
// dim 64, linear projections). --size is the latent size (64 = 512x512 images); default 64, or
// 16 on a CPU device. Columns:
//   fwd ms      one inference forward (saved NULL), record + submit + wait
//   fwd+bwd ms  forward keeping its saved state + backward to the input sample only (SDS: the
//               parameters are frozen, allocated without gradients; no dcontext)
//   GFLOP/s     estimated FLOPs / time. Forward: 2 x the MACs of every convolution, linear layer
//               and attention product (norms and element-wise ops not counted). Backward: the
//               input-gradient products only (same MACs as the forward's convolutions and
//               linears, minus the context's k/v projections and the time embedding; 2x the
//               attention products), not any recomputation the implementation does.
//   peak MiB    vkd_gpu_peak_allocated_bytes after the forward runs / after the fwd+bwd runs
//               (each model runs in its own device context, so the peak is its own; it includes
//               the parameters); arena MiB: the activation arena's peak_bytes, same two points.
// Each timing runs once to warm up (pipelines, arena chunks) and then reports the best of --reps.
// --channels-div N divides block_out_channels by N (heads kept): a narrower model for devices
// whose maxMemoryAllocationSize cannot hold SD's ~3.3 GiB fp32 parameter set, which is one
// buffer (lavapipe: 2 GiB); such rows are named sd15/N, sd21/N.
#define _POSIX_C_SOURCE 200809L
#include "vkdream/nn/arena.h"
#include "vkdream/nn/params.h"
#include "vkdream/prior/unet_cond.h"

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

typedef struct row {
    char name[32];
    uint32_t size;
    double params_m, params_mib, fwd_gflop, bwd_gflop;
    double fwd_ms, fb_ms, peak_fwd, peak_fb, arena_fwd, arena_fb;
    bool ok;
    char err[1200];
} row;

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

static void run_row(const char* model, uint32_t size_opt, uint32_t reps, uint32_t div, const char* device, row* r) {
    memset(r, 0, sizeof *r);
    snprintf(r->name, sizeof r->name, div > 1 ? "%s/%u" : "%s", model, div);
    vkd_error e = {0};
    vkd_gpu* gpu = NULL;
    vkd_stream* s = NULL;
    vkd_unet m;
    vkd_params p = {0};
    vkd_arena a = {0};
    vkd_unet_saved* sv = NULL;
    vkd_buffer sample = {0}, ts = {0}, ctx = {0}, out = {0}, dout = {0}, dsample = {0};
    const char* stage = "device";
    if (vkd_gpu_create(&(vkd_gpu_desc){.device = device}, &gpu, &e)) goto fail;
    const vkd_gpu_info* info = vkd_gpu_get_info(gpu);
    fprintf(stderr, "bench_unet: %s on %s\n", r->name, info->name);
    uint32_t S = r->size = size_opt ? size_opt : info->kind == VKD_DEVICE_CPU ? 16 : 64;
    a.gpu = gpu;
    vkd_unet_desc d;
    desc_for(model, div, &d);
    stage = "declare";
    if (vkd_unet_declare(&m, &p, NULL, "", &d, &e)) goto fail;
    uint64_t np = 0;
    for (uint32_t i = 0; i < p.count; i++) np += p.items[i].count;
    r->params_m = np / 1e6;
    r->params_mib = mib(p.total * sizeof(float));
    macs mc = unet_macs(&m.d, S, S);
    r->fwd_gflop = 2e-9 * (mc.lin + mc.lin_fwd + mc.att);
    r->bwd_gflop = 2e-9 * (mc.lin + 2 * mc.att);
    stage = "parameters (frozen, no gradient buffer)";
    if (vkd_params_alloc(gpu, &p, false, &e) || vkd_params_init_random(&p, 1, &e)) goto fail;
    stage = "stream";
    if (vkd_stream_create(gpu, &s, &e)) goto fail;
    stage = "inputs";
    size_t nimg = (size_t)BATCH * 4 * S * S;
    uint64_t rng = 12345;
    float th[BATCH] = {500.0f, 500.0f};  // a CFG pair shares its timestep
    if (!upload_normal(gpu, &sample, nimg, &rng, 1.0f, &e) ||
        !upload_normal(gpu, &ctx, (size_t)BATCH * TOKENS * d.cross_attention_dim, &rng, 1.0f, &e) ||
        !upload_normal(gpu, &dout, nimg, &rng, 1.0f, &e) || vkd_buffer_alloc(gpu, sizeof th, &ts, &e) ||
        vkd_buffer_upload(gpu, &ts, 0, th, sizeof th, &e) || vkd_buffer_alloc(gpu, nimg * 4, &out, &e) ||
        vkd_buffer_alloc(gpu, nimg * 4, &dsample, &e))
        goto fail;

    stage = "forward";
    r->fwd_ms = INFINITY;
    for (uint32_t it = 0; it <= reps; it++) {  // iteration 0 warms up
        vkd_arena_reset(&a);
        double t0 = now_ms();
        vkd_unet_forward(&m, &p, NULL, s, &a, out.addr, sample.addr, ts.addr, ctx.addr, 0, BATCH, S, S, TOKENS, NULL,
                         NULL);
        if (vkd_stream_submit(s, &e)) goto fail;
        double dt = now_ms() - t0;
        if (it && dt < r->fwd_ms) r->fwd_ms = dt;
    }
    r->peak_fwd = mib(vkd_gpu_peak_allocated_bytes(gpu));
    r->arena_fwd = mib(a.peak_bytes);

    stage = "forward + backward";
    r->fb_ms = INFINITY;
    for (uint32_t it = 0; it <= reps; it++) {
        vkd_arena_reset(&a);
        sv = vkd_unet_saved_new();
        if (!sv) {
            snprintf(e.msg, sizeof e.msg, "out of host memory");
            goto fail;
        }
        double t0 = now_ms();
        vkd_stream_fill(s, dsample.addr, (uint32_t)nimg, 0);
        vkd_unet_forward(&m, &p, NULL, s, &a, out.addr, sample.addr, ts.addr, ctx.addr, 0, BATCH, S, S, TOKENS, sv, NULL);
        vkd_unet_backward(&m, &p, NULL, s, &a, dsample.addr, 0, 0, dout.addr, sv);
        if (vkd_stream_submit(s, &e)) goto fail;
        double dt = now_ms() - t0;
        if (it && dt < r->fb_ms) r->fb_ms = dt;
        vkd_unet_saved_free(sv);
        sv = NULL;
    }
    r->peak_fb = mib(vkd_gpu_peak_allocated_bytes(gpu));
    r->arena_fb = mib(a.peak_bytes);
    r->ok = true;
    goto done;
fail:
    snprintf(r->err, sizeof r->err, "%s: %s", stage, e.msg);
    if (strstr(e.msg, "maxMemoryAllocationSize"))
        snprintf(r->err + strlen(r->err), sizeof r->err - strlen(r->err), " (try --channels-div 2)");
done:
    if (sv) vkd_unet_saved_free(sv);
    if (gpu) {
        vkd_buffer* bufs[] = {&sample, &ts, &ctx, &out, &dout, &dsample};
        for (int i = 0; i < 6; i++)
            if (bufs[i]->addr) vkd_buffer_free(gpu, bufs[i]);
        vkd_arena_free(&a);
        vkd_params_free(&p);
        if (s) vkd_stream_destroy(s);
        vkd_gpu_destroy(gpu);
    }
}

static void usage(FILE* f) {
    fprintf(f,
            "usage: bench_unet [--model sd15|sd21|both] [--size LATENT] [--reps N] [--channels-div N] [--device NAME]\n"
            "  UNet2DConditionModel with SD-1.5 / SD-2.1-base shapes, random weights, B = 2, 77 tokens:\n"
            "  inference forward and forward + backward to the input sample (frozen parameters).\n"
            "  --size: latent size (default 64, or 16 on a CPU device); --reps: timed runs after one\n"
            "  warm-up, best reported (default 3); --channels-div: divide block_out_channels by N\n"
            "  (a narrower model for devices whose maxMemoryAllocationSize cannot hold SD's parameters).\n");
}

int main(int argc, char** argv) {
    const char* model = "both";
    const char* device = NULL;
    uint32_t size = 0, reps = 3, div = 1;
    for (int i = 1; i < argc; i++) {
        const char* a = argv[i];
        const char* v = i + 1 < argc ? argv[i + 1] : NULL;
        if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
            usage(stdout);
            return 0;
        } else if (v && !strcmp(a, "--model")) {
            model = v, i++;
        } else if (v && !strcmp(a, "--size")) {
            size = (uint32_t)strtoul(v, NULL, 10), i++;
        } else if (v && !strcmp(a, "--reps")) {
            reps = (uint32_t)strtoul(v, NULL, 10), i++;
        } else if (v && !strcmp(a, "--channels-div")) {
            div = (uint32_t)strtoul(v, NULL, 10), i++;
        } else if (v && !strcmp(a, "--device")) {
            device = v, i++;
        } else {
            usage(stderr);
            return 2;
        }
    }
    bool sd15 = !strcmp(model, "sd15") || !strcmp(model, "both");
    bool sd21 = !strcmp(model, "sd21") || !strcmp(model, "both");
    // GroupNorm(32) and every head count (8; 5/10/20) must divide the narrowed widths.
    bool div_ok = div >= 1 && 320 % div == 0 && (320 / div) % 32 == 0 && (320 / div) % 5 == 0 && (320 / div) % 8 == 0;
    if ((!sd15 && !sd21) || !reps || (size && size % 8) || !div_ok) {
        fprintf(stderr, "bench_unet: --model sd15|sd21|both, --size a positive multiple of 8, --reps >= 1, "
                        "--channels-div 1 or 2\n");
        return 2;
    }
    row rows[2];
    int nr = 0;
    if (sd15) run_row("sd15", size, reps, div, device, &rows[nr++]);
    if (sd21) run_row("sd21", size, reps, div, device, &rows[nr++]);
    printf("bench_unet: UNet fp32, random weights, B = %d (CFG pair), %d context tokens, best of %u after a warm-up\n",
           BATCH, TOKENS, reps);
    printf("| model | latent | params M | params MiB | fwd ms | fwd GFLOP | fwd GFLOP/s | fwd+bwd ms | fwd+bwd GFLOP | "
           "fwd+bwd GFLOP/s | peak MiB fwd / fwd+bwd | arena MiB fwd / fwd+bwd |\n"
           "|---|---|---|---|---|---|---|---|---|---|---|---|\n");
    int rc = 0;
    for (int i = 0; i < nr; i++) {
        const row* r = &rows[i];
        if (!r->ok) {
            printf("| %s | %ux%u | %.1f | %.0f | failed: %s |\n", r->name, r->size, r->size, r->params_m, r->params_mib,
                   r->err);
            rc = 1;
            continue;
        }
        double fb = r->fwd_gflop + r->bwd_gflop;
        printf("| %s | %ux%u | %.1f | %.0f | %.1f | %.1f | %.1f | %.1f | %.1f | %.1f | %.0f / %.0f | %.0f / %.0f |\n",
               r->name, r->size, r->size, r->params_m, r->params_mib, r->fwd_ms, r->fwd_gflop,
               r->fwd_gflop / (r->fwd_ms * 1e-3), r->fb_ms, fb, fb / (r->fb_ms * 1e-3), r->peak_fwd, r->peak_fb,
               r->arena_fwd, r->arena_fb);
    }
    return rc;
}
