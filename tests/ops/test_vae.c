// AutoencoderKL (src/prior/vae*.c) against the sd-tiny golden fixtures (diffusers v0.21.4):
// config parsing; encode: moments, mean/logvar/std, every act.*, grad_image and the 6
// grad_W.* (flash and explicit attention; trainable and frozen sets); decode: every act.*,
// the image and grad_latent. Pass rule of PRIOR.md: max|d| <= 1e-4 * max(1, max|ref|) for
// outputs and activations, <= 1e-4 * max|ref| for gradients. Plus the posterior kernels
// against a host reference and the mid-block attention's parameter gradients against
// finite differences of the GPU forward.
#include "harness.h"
#include "vkdream/prior/vae.h"
#include "vkdream/safetensors.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

static double max_abs(const double* x, size_t n) {
    double m = 0;
    for (size_t i = 0; i < n; i++) m = fmax(m, fabs(x[i]));
    return m;
}

// Compares n floats at a device address with a fixture tensor; gradient = the gradient rule.
static void expect_addr_as(tu_ctx* t, vkd_safetensors* st, const char* name, const char* label, vkd_addr addr,
                           const vkd_buffer* owner, size_t n, bool gradient) {
    double* ref = tu_fixture_read(t, st, name, n);
    if (!ref) return;
    float* f = malloc(n * sizeof *f);
    vkd_error e = {0};
    bool ok = addr >= owner->addr && vkd_buffer_download(t->gpu, owner, (size_t)(addr - owner->addr), f,
                                                         n * sizeof *f, &e) == VKD_OK;
    if (tu_check(t, ok || !addr, "download %s", name) && ok) {
        double* got = tu_alloc_d(n);
        for (size_t i = 0; i < n; i++) got[i] = f[i];
        double m = max_abs(ref, n);
        tu_check_close(t, label, got, ref, n, 0, 1e-4 * (gradient ? m : fmax(1.0, m)));
        free(got);
    }
    free(f);
    free(ref);
}

static void expect_addr(tu_ctx* t, vkd_safetensors* st, const char* name, vkd_addr addr, const vkd_buffer* owner,
                        size_t n, bool gradient) {
    expect_addr_as(t, st, name, name, addr, owner, n, gradient);
}

// The arena chunk that holds addr (for downloads of saved activations).
static const vkd_buffer* arena_owner(const vkd_arena* a, vkd_addr addr) {
    for (uint32_t c = 0; c < a->nchunks; c++)
        if (addr >= a->chunks[c].addr && addr < a->chunks[c].addr + a->chunks[c].size) return &a->chunks[c];
    return &a->chunks[0];
}

static void expect_act(tu_ctx* t, vkd_safetensors* st, const char* name, const vkd_arena* a, vkd_addr addr, size_t n) {
    expect_addr(t, st, name, addr, arena_owner(a, addr), n, false);
}

typedef struct vae_fixture {
    vkd_vae m;
    vkd_params p;
    bool ok;
} vae_fixture;

static void load_vae(tu_ctx* t, vae_fixture* f, vkd_vae_attention mode, bool with_grad) {
    memset(f, 0, sizeof(*f));
    char path[1024];
    tu_fixture_path(path, sizeof path, "vae/config.json");
    vkd_vae_desc d = {0};
    vkd_error e = {0};
    vkd_status s0 = vkd_vae_config_load(path, &d, &e);
    d.attention = mode;
    if (!s0) s0 = vkd_vae_declare(&f->m, &f->p, "", &d, &e);
    if (!tu_check(t, s0 == VKD_OK, "config + declare%s%s", s0 ? ": " : "", s0 ? e.msg : "")) return;
    vkd_safetensors* w = tu_fixture_open(t, "vae/diffusion_pytorch_model.safetensors");
    if (!w) return;
    f->ok = vkd_params_alloc(t->gpu, &f->p, with_grad, &e) == VKD_OK && vkd_params_load(&f->p, w, NULL, &e) == VKD_OK;
    tu_check(t, f->ok, "load %u parameters%s%s", f->p.count, f->ok ? "" : ": ", f->ok ? "" : e.msg);
    if (f->ok && with_grad) vkd_params_zero_grad(&f->p, t->s);
    vkd_safetensors_close(w);
}

static void config_case(tu_ctx* t) {
    tu_case(t, "vae config.json");
    char path[1024];
    tu_fixture_path(path, sizeof path, "vae/config.json");
    vkd_vae_desc d = {0};
    vkd_error e = {0};
    vkd_status s0 = vkd_vae_config_load(path, &d, &e);
    tu_check(t, s0 == VKD_OK, "load%s%s", s0 ? ": " : "", s0 ? e.msg : "");
    tu_check(t, d.in_channels == 3 && d.out_channels == 3 && d.latent_channels == 4 && d.num_blocks == 2 &&
                    d.block_out_channels[0] == 32 && d.block_out_channels[1] == 64 && d.layers_per_block == 1 &&
                    d.norm_num_groups == 32 && d.sample_size == 16 && fabsf(d.scaling_factor - 0.18215f) < 1e-9f,
             "fields: in %u out %u latent %u blocks %u (%u, %u) layers %u groups %u size %u scale %g", d.in_channels,
             d.out_channels, d.latent_channels, d.num_blocks, d.block_out_channels[0], d.block_out_channels[1],
             d.layers_per_block, d.norm_num_groups, d.sample_size, (double)d.scaling_factor);
    const char* bad1 = "{\"_class_name\": \"VQModel\"}";
    s0 = vkd_vae_config_parse(bad1, strlen(bad1), "x.json", &d, &e);
    tu_check(t, s0 != VKD_OK && strstr(e.msg, "x.json") && strstr(e.msg, "VQModel"), "wrong class: %s", e.msg);
    const char* bad2 = "{\"block_out_channels\": [32, 64], \"down_block_types\": [\"DownEncoderBlock2D\", \"AttnDownEncoderBlock2D\"]}";
    s0 = vkd_vae_config_parse(bad2, strlen(bad2), "y.json", &d, &e);
    tu_check(t, s0 != VKD_OK && strstr(e.msg, "AttnDownEncoderBlock2D"), "unsupported block type: %s", e.msg);
    // SD defaults: the real VAE's parameter count (83,653,863 in diffusers).
    vkd_params p = {0};
    vkd_vae m;
    s0 = vkd_vae_declare(&m, &p, "", &(vkd_vae_desc){0}, &e);
    uint64_t n = 0;
    for (uint32_t i = 0; i < p.count; i++) n += p.items[i].count;
    tu_check(t, s0 == VKD_OK && n == 83653863ull, "SD VAE defaults declare %llu parameters in %u tensors%s%s",
             (unsigned long long)n, p.count, s0 ? ": " : "", s0 ? e.msg : "");
    tu_check(t, m.enc.mid.attn.explicit_softmax, "SD VAE (512 channels) mid attention uses the explicit path");
    vkd_params_free(&p);
}

static void encode_case(tu_ctx* t, vkd_vae_attention mode) {
    tu_case(t, "golden vae encode (%s attention)", mode == VKD_VAE_ATTN_EXPLICIT ? "explicit" : "flash");
    vkd_safetensors* st = tu_fixture_open(t, "vae/case_encode.safetensors");
    if (!st) return;
    vae_fixture f;
    load_vae(t, &f, mode, true);
    double* image = tu_fixture_read(t, st, "image", 3 * 256);
    double* cot = tu_fixture_read(t, st, "cotangent", 4 * 64);
    if (f.ok && image && cot) {
        tu_check(t, f.m.enc.mid.attn.explicit_softmax == (mode == VKD_VAE_ATTN_EXPLICIT), "attention mode resolved");
        vkd_arena a = {.gpu = t->gpu};
        tu_buf gimg = tu_upload_d(t, image, 3 * 256), gmom = tu_alloc(t, 8 * 64);
        tu_buf gmean = tu_alloc(t, 4 * 64), glv = tu_alloc(t, 4 * 64), gstd = tu_alloc(t, 4 * 64);
        tu_buf gcot = tu_upload_d(t, cot, 4 * 64), dmom = tu_zeros(t, 8 * 64), dimg = tu_zeros(t, 3 * 256);
        vkd_vae_encode_saved sv;
        vkd_vae_encode_forward(&f.m, &f.p, t->s, &a, gmom.addr, gimg.addr, 1, 16, 16, &sv);
        vkd_vae_posterior_forward(t->s, gmean.addr, glv.addr, gstd.addr, 0, gmom.addr, 0, 1, 4, 64);
        vkd_vae_posterior_backward(t->s, dmom.addr, gcot.addr, 0, 0, 0, gmom.addr, 0, 1, 4, 64);
        vkd_vae_encode_backward(&f.m, &f.p, t->s, &a, dimg.addr, dmom.addr, &sv);
        tu_run(t);
        expect_addr(t, st, "moments", gmom.addr, &gmom.b, 8 * 64, false);
        expect_addr(t, st, "mean", gmean.addr, &gmean.b, 4 * 64, false);
        expect_addr(t, st, "logvar", glv.addr, &glv.b, 4 * 64, false);
        expect_addr(t, st, "std", gstd.addr, &gstd.b, 4 * 64, false);
        expect_act(t, st, "act.encoder.conv_in", &a, sv.conv_in, 32 * 256);
        expect_act(t, st, "act.encoder.down_blocks.0", &a, sv.block_out[0], 32 * 64);
        expect_act(t, st, "act.encoder.down_blocks.1", &a, sv.block_out[1], 64 * 64);
        expect_act(t, st, "act.encoder.mid_block", &a, sv.mid_out, 64 * 64);
        expect_act(t, st, "act.encoder.conv_norm_out", &a, sv.norm_out, 64 * 64);
        expect_act(t, st, "act.encoder.conv_out", &a, sv.conv_out, 8 * 64);
        expect_addr(t, st, "act.quant_conv", gmom.addr, &gmom.b, 8 * 64, false);
        expect_addr(t, st, "grad_image", dimg.addr, &dimg.b, 3 * 256, true);
        static const char* gw[] = {"encoder.conv_in.weight", "encoder.conv_out.weight",
                                   "encoder.down_blocks.0.resnets.0.norm1.weight",
                                   "encoder.mid_block.attentions.0.group_norm.bias",
                                   "encoder.mid_block.attentions.0.to_q.weight", "quant_conv.weight"};
        for (size_t i = 0; i < sizeof gw / sizeof *gw; i++) {
            uint32_t idx = vkd_params_find(&f.p, gw[i]);
            if (!tu_check(t, idx != UINT32_MAX, "parameter %s declared", gw[i])) continue;
            char name[256];
            snprintf(name, sizeof name, "grad_W.%s", gw[i]);
            expect_addr(t, st, name, vkd_params_grad(&f.p, idx), &f.p.grad, f.p.items[idx].count, true);
        }
        // Frozen set (latent-space SDS): the same grad_image, without parameter gradients.
        vkd_arena_reset(&a);
        vkd_params frozen = f.p;
        frozen.grad = (vkd_buffer){0};
        tu_buf dimg2 = tu_zeros(t, 3 * 256);
        vkd_vae_encode_forward(&f.m, &frozen, t->s, &a, gmom.addr, gimg.addr, 1, 16, 16, &sv);
        vkd_vae_encode_backward(&f.m, &frozen, t->s, &a, dimg2.addr, dmom.addr, &sv);
        tu_run(t);
        expect_addr_as(t, st, "grad_image", "grad_image (frozen set)", dimg2.addr, &dimg2.b, 3 * 256, true);
        // Inference: no saved state, the arena is left as it was.
        vkd_arena_reset(&a);
        tu_buf gmom2 = tu_alloc(t, 8 * 64);
        vkd_vae_encode_forward(&f.m, &f.p, t->s, &a, gmom2.addr, gimg.addr, 1, 16, 16, NULL);
        tu_run(t);
        tu_check(t, a.live_bytes == 0, "forward without saved releases the arena (%zu bytes live)", a.live_bytes);
        expect_addr_as(t, st, "moments", "moments (no saved state)", gmom2.addr, &gmom2.b, 8 * 64, false);
        tu_buf* bufs[] = {&gimg, &gmom, &gmean, &glv, &gstd, &gcot, &dmom, &dimg, &dimg2, &gmom2};
        for (size_t i = 0; i < sizeof bufs / sizeof *bufs; i++) tu_free(t, bufs[i]);
        vkd_arena_free(&a);
    }
    free(image);
    free(cot);
    vkd_params_free(&f.p);
    vkd_safetensors_close(st);
}

static void decode_case(tu_ctx* t, vkd_vae_attention mode) {
    tu_case(t, "golden vae decode (%s attention)", mode == VKD_VAE_ATTN_EXPLICIT ? "explicit" : "flash");
    vkd_safetensors* st = tu_fixture_open(t, "vae/case_decode.safetensors");
    if (!st) return;
    vae_fixture f;
    load_vae(t, &f, mode, false);
    double* lat = tu_fixture_read(t, st, "latent", 4 * 64);
    double* cot = tu_fixture_read(t, st, "cotangent", 3 * 256);
    if (f.ok && lat && cot) {
        vkd_arena a = {.gpu = t->gpu};
        tu_buf glat = tu_upload_d(t, lat, 4 * 64), gimg = tu_alloc(t, 3 * 256), gcot = tu_upload_d(t, cot, 3 * 256);
        tu_buf dlat = tu_zeros(t, 4 * 64);
        vkd_vae_decode_saved sv;
        vkd_vae_decode_forward(&f.m, &f.p, t->s, &a, gimg.addr, glat.addr, 1, 8, 8, &sv);
        vkd_vae_decode_backward(&f.m, &f.p, t->s, &a, dlat.addr, gcot.addr, &sv);
        tu_run(t);
        expect_addr(t, st, "image", gimg.addr, &gimg.b, 3 * 256, false);
        expect_act(t, st, "act.post_quant_conv", &a, sv.post_quant, 4 * 64);
        expect_act(t, st, "act.decoder.conv_in", &a, sv.conv_in, 64 * 64);
        expect_act(t, st, "act.decoder.mid_block", &a, sv.mid_out, 64 * 64);
        expect_act(t, st, "act.decoder.up_blocks.0", &a, sv.block_out[0], 64 * 256);
        expect_act(t, st, "act.decoder.up_blocks.1", &a, sv.block_out[1], 32 * 256);
        expect_act(t, st, "act.decoder.conv_norm_out", &a, sv.norm_out, 32 * 256);
        expect_addr(t, st, "act.decoder.conv_out", gimg.addr, &gimg.b, 3 * 256, false);
        expect_addr(t, st, "grad_latent", dlat.addr, &dlat.b, 4 * 64, true);
        vkd_arena_reset(&a);
        tu_buf gimg2 = tu_alloc(t, 3 * 256);
        vkd_vae_decode_forward(&f.m, &f.p, t->s, &a, gimg2.addr, glat.addr, 1, 8, 8, NULL);
        tu_run(t);
        tu_check(t, a.live_bytes == 0, "forward without saved releases the arena (%zu bytes live)", a.live_bytes);
        expect_addr_as(t, st, "image", "image (no saved state)", gimg2.addr, &gimg2.b, 3 * 256, false);
        tu_buf* bufs[] = {&glat, &gimg, &gcot, &dlat, &gimg2};
        for (size_t i = 0; i < sizeof bufs / sizeof *bufs; i++) tu_free(t, bufs[i]);
        vkd_arena_free(&a);
    }
    free(lat);
    free(cot);
    vkd_params_free(&f.p);
    vkd_safetensors_close(st);
}

// Posterior kernels vs the host formulas, including raw log-variances outside [-30, 20].
static void posterior_case(tu_ctx* t) {
    uint32_t B = 2, L = 3, hw = 7;
    tu_case(t, "posterior B=%u L=%u hw=%u (clamped values included)", B, L, hw);
    size_t nm = (size_t)B * 2 * L * hw, n = (size_t)B * L * hw;
    double *mom = tu_alloc_d(nm), *noise = tu_alloc_d(n), *g[4], *pre = tu_alloc_d(nm);
    tu_fill_normal(t, mom, nm, 3.0);
    for (size_t b = 0; b < B; b++) { // some raw log-variances beyond the clamp
        mom[b * 2 * L * hw + L * hw + 0] = 25.0;
        mom[b * 2 * L * hw + L * hw + 1] = -31.5;
        mom[b * 2 * L * hw + L * hw + 2] = 20.0;
    }
    tu_round_f32(mom, nm);
    tu_fill_normal(t, noise, n, 1.0);
    tu_round_f32(noise, n);
    tu_fill_normal(t, pre, nm, 1.0);
    for (int k = 0; k < 4; k++) {
        g[k] = tu_alloc_d(n);
        tu_fill_normal(t, g[k], n, 1.0);
    }
    double *mean = tu_alloc_d(n), *lv = tu_alloc_d(n), *sd = tu_alloc_d(n), *z = tu_alloc_d(n), *dm = tu_alloc_d(nm);
    memcpy(dm, pre, nm * sizeof *dm);
    for (size_t b = 0; b < B; b++)
        for (size_t r = 0; r < L * hw; r++) {
            size_t i = b * L * hw + r, src = b * 2 * L * hw + r;
            double raw = mom[src + L * hw];
            mean[i] = mom[src];
            lv[i] = fmin(fmax(raw, -30.0), 20.0);
            sd[i] = exp(0.5 * lv[i]);
            z[i] = mean[i] + sd[i] * noise[i];
            dm[src] += g[0][i] + g[3][i];
            double dsd = g[2][i] + g[3][i] * noise[i];
            dm[src + L * hw] += (raw >= -30 && raw <= 20) ? g[1][i] + 0.5 * sd[i] * dsd : 0.0;
        }
    tu_buf gm = tu_upload_d(t, mom, nm), gn = tu_upload_d(t, noise, n), o[4], gg[4];
    for (int k = 0; k < 4; k++) o[k] = tu_alloc(t, n), gg[k] = tu_upload_d(t, g[k], n);
    tu_buf gdm = tu_upload_d(t, pre, nm);
    vkd_vae_posterior_forward(t->s, o[0].addr, o[1].addr, o[2].addr, o[3].addr, gm.addr, gn.addr, B, L, hw);
    vkd_vae_posterior_backward(t->s, gdm.addr, gg[0].addr, gg[1].addr, gg[2].addr, gg[3].addr, gm.addr, gn.addr, B, L,
                               hw);
    tu_run(t);
    tu_expect_buf(t, "mean", o[0], mean, 0, 0);
    tu_expect_buf(t, "logvar", o[1], lv, 0, 0);
    tu_expect_buf(t, "std", o[2], sd, 1e-6, 0);
    tu_expect_buf(t, "z", o[3], z, 1e-6, 1e-6);
    tu_expect_buf(t, "dmoments (accumulated)", gdm, dm, 1e-6, 1e-6);
    for (int k = 0; k < 4; k++) tu_free(t, &o[k]), tu_free(t, &gg[k]), free(g[k]);
    tu_free(t, &gm);
    tu_free(t, &gn);
    tu_free(t, &gdm);
    free(mom), free(noise), free(pre), free(mean), free(lv), free(sd), free(z), free(dm);
}

// Mid-block attention on a tiny shape: parameter and input gradients vs central
// differences of the GPU forward (fp32).
typedef struct attn_fd {
    tu_ctx* t;
    vkd_vae_attn m;
    vkd_params p;
    vkd_arena a;
    double *x, *pm, *g;
    size_t nx;
    tu_buf gx, go;
} attn_fd;

static void upload_doubles(tu_ctx* t, const vkd_buffer* b, const double* x, size_t n) {
    float* f = malloc((n ? n : 1) * sizeof *f);
    for (size_t i = 0; i < n; i++) f[i] = (float)x[i];
    vkd_error e = {0};
    if (vkd_buffer_upload(t->gpu, b, 0, f, n * sizeof *f, &e) != VKD_OK) tu_check(t, false, "upload: %s", e.msg);
    free(f);
}

static double attn_loss(void* user) {
    attn_fd* f = user;
    upload_doubles(f->t, &f->gx.b, f->x, f->nx);
    upload_doubles(f->t, &f->p.data, f->pm, f->p.total);
    vkd_vae_attn_forward(&f->m, &f->p, f->t->s, &f->a, f->go.addr, f->gx.addr, 2, 3, 5, NULL);
    vkd_error e = {0};
    if (vkd_stream_submit(f->t->s, &e) != VKD_OK) tu_check(f->t, false, "submit: %s", e.msg);
    vkd_arena_reset(&f->a);
    double* out = tu_download_d(f->t, f->go);
    double l = tu_dot(out, f->g, f->nx);
    free(out);
    return l;
}

static void attn_fd_case(tu_ctx* t, vkd_vae_attention mode) {
    const uint32_t C = 8, B = 2, H = 3, W = 5;
    tu_case(t, "fd mid attention C=%u B=%u %ux%u (%s)", C, B, H, W, mode == VKD_VAE_ATTN_EXPLICIT ? "explicit" : "flash");
    attn_fd f = {.t = t};
    f.a.gpu = t->gpu;
    f.a.chunk_bytes = 1 << 20;
    vkd_error e = {0};
    vkd_status s0 = vkd_vae_attn_declare(&f.m, &f.p, "attn.", C, 2, 1e-6f, mode, &e);
    if (!s0) s0 = vkd_params_alloc(t->gpu, &f.p, true, &e);
    if (!tu_check(t, s0 == VKD_OK, "declare + alloc%s%s", s0 ? ": " : "", s0 ? e.msg : "")) return;
    f.nx = (size_t)B * C * H * W;
    f.x = tu_alloc_d(f.nx);
    f.g = tu_alloc_d(f.nx);
    f.pm = tu_alloc_d(f.p.total);
    tu_fill_normal(t, f.x, f.nx, 1.0);
    tu_round_f32(f.x, f.nx);
    tu_fill_normal(t, f.g, f.nx, 1.0);
    for (uint32_t i = 0; i < f.p.count; i++) {
        const vkd_param* q = &f.p.items[i];
        bool norm_w = strstr(q->name, "group_norm.weight") != NULL;
        for (uint64_t j = 0; j < q->count; j++)
            f.pm[q->offset + j] = (float)(norm_w ? 1.0 + 0.3 * tu_normal(t) : 0.6 * tu_normal(t));
    }
    f.gx = tu_upload_d(t, f.x, f.nx);
    f.go = tu_alloc(t, f.nx);
    tu_buf gg = tu_upload_d(t, f.g, f.nx), dx = tu_zeros(t, f.nx);
    upload_doubles(t, &f.p.data, f.pm, f.p.total);
    vkd_params_zero_grad(&f.p, t->s);
    vkd_vae_attn_saved sv;
    vkd_vae_attn_forward(&f.m, &f.p, t->s, &f.a, f.go.addr, f.gx.addr, B, H, W, &sv);
    vkd_vae_attn_backward(&f.m, &f.p, t->s, &f.a, dx.addr, gg.addr, &sv);
    tu_run(t);
    vkd_arena_reset(&f.a);
    double* gdx = tu_download_d(t, dx);
    tu_buf gb = {.b = f.p.grad, .n = f.p.total, .addr = f.p.grad.addr};
    double* gp = tu_download_d(t, gb);
    tu_fd_check(t, "dx", attn_loss, &f, f.x, f.nx, gdx, 16, 1e-2, 3e-3, 1e-4);
    static const char* names[] = {"group_norm.weight", "group_norm.bias", "to_q.weight", "to_q.bias", "to_k.weight",
                                  "to_k.bias", "to_v.weight", "to_v.bias", "to_out.0.weight", "to_out.0.bias"};
    for (size_t i = 0; i < sizeof names / sizeof *names; i++) {
        char full[64];
        snprintf(full, sizeof full, "attn.%s", names[i]);
        uint32_t idx = vkd_params_find(&f.p, full);
        const vkd_param* q = &f.p.items[idx];
        if (!strcmp(names[i], "to_k.bias")) {
            // Exactly 0: adding b to every key shifts each softmax row by a constant.
            double m = 0;
            for (uint64_t j = 0; j < q->count; j++) m = fmax(m, fabs(gp[q->offset + j]));
            tu_check(t, m < 1e-4, "%s gradient is 0 up to rounding (max %.3g)", full, m);
            continue;
        }
        tu_fd_check(t, full, attn_loss, &f, f.pm + q->offset, q->count, gp + q->offset, 5, 1e-2, 3e-3, 1e-4);
    }
    free(gdx);
    free(gp);
    free(f.x);
    free(f.g);
    free(f.pm);
    tu_free(t, &gg);
    tu_free(t, &dx);
    tu_free(t, &f.gx);
    tu_free(t, &f.go);
    vkd_arena_free(&f.a);
    vkd_params_free(&f.p);
}

void test_vae(tu_ctx* t) {
    config_case(t);
    posterior_case(t);
    attn_fd_case(t, VKD_VAE_ATTN_FLASH);
    attn_fd_case(t, VKD_VAE_ATTN_EXPLICIT);
    encode_case(t, VKD_VAE_ATTN_FLASH);
    encode_case(t, VKD_VAE_ATTN_EXPLICIT);
    decode_case(t, VKD_VAE_ATTN_FLASH);
    decode_case(t, VKD_VAE_ATTN_EXPLICIT);
}
