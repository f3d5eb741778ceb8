// fp16 weights through the whole Stable Diffusion model (vkd_sd_load_desc.f16) on the sd-tiny
// fixture: every matrix and kernel of the text encoder, UNet and VAE stored as half.
//   1. Exactness: the fp16 model's outputs equal those of the fp32 model whose weights were
//      rounded to half on the host. The kernels widen each half to the same float, so any
//      weight read wrongly (layout, offset, a GEMM or conv that ignores the fp16 flag) shows.
//   2. Accuracy: the fp16 model against the reference outputs of the fixture (fp32 PyTorch),
//      the error that storing weights in half costs; the bound is 1e-2 * max(1, max|ref|).
#include "harness.h"
#include "vkdream/nn/arena.h"
#include "vkdream/prior/sd.h"
#include "vkdream/safetensors.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#if defined(VKD_SD_HAVE_CLIP) && defined(VKD_SD_HAVE_UNET) && defined(VKD_SD_HAVE_VAE)

// Rounds every parameter that the fp16 set stores as half, in the fp32 set, to half.
static bool round_like(tu_ctx* t, vkd_params* p32, const vkd_params* p16) {
    vkd_error e = {0};
    uint32_t halves = 0;
    for (uint32_t i = 0; i < p32->count; i++) {
        if (!vkd_params_is_f16(p16, i)) continue;
        uint64_t n = p32->items[i].count;
        float* x = malloc(n * sizeof *x);
        bool ok = x && !vkd_params_download(p32, i, false, x, n, &e);
        for (uint64_t k = 0; ok && k < n; k++) x[k] = vkd_f16_to_f32(vkd_f32_to_f16(x[k]));
        ok = ok && !vkd_params_upload(p32, i, x, n, &e);
        free(x);
        if (!ok) return tu_check(t, false, "round %s: %s", p32->items[i].name, e.msg);
        halves++;
    }
    return tu_check(t, halves > 0, "%u parameters of %u are fp16, %.0f%% of the bytes of the fp32 set", halves,
                    p16->count, 100.0 * (double)vkd_params_bytes(p16) / (double)vkd_params_bytes(p32));
}

typedef struct run_out {
    double *text, *eps, *dsample, *dctx, *mean, *dimage, *image;
} run_out;

static void run_out_free(run_out* o) {
    double* all[] = {o->text, o->eps, o->dsample, o->dctx, o->mean, o->dimage, o->image};
    for (size_t i = 0; i < sizeof all / sizeof all[0]; i++) free(all[i]);
    memset(o, 0, sizeof *o);
}

// The fixture inputs, uploaded once.
typedef struct inputs {
    tu_buf ids, sample, ts, ctx, g_unet, image, g_enc, latent;
    uint32_t B, T, H, W, Tc, D;                       // UNet batch, text length, latent size, context
    size_t n_text, n_eps, n_ctx, n_image, n_mean, n_latent_img;
    uint32_t IH, IW, L, lh, lw;                       // VAE image and latent sizes
} inputs;

// Text encoder (last_hidden_state), UNet forward + backward to sample and context, VAE encode
// (mean) + backward to the image, VAE decode, each from the fixture's inputs.
static bool run_model(tu_ctx* t, const vkd_sd_model* m, const inputs* in, run_out* o) {
    vkd_arena a = {.gpu = t->gpu};
    tu_buf text = tu_alloc(t, in->n_text), eps = tu_alloc(t, in->n_eps), dsample = tu_zeros(t, in->n_eps);
    tu_buf dctx = tu_zeros(t, in->n_ctx), moments = tu_alloc(t, 2 * in->n_mean), dmoments = tu_zeros(t, 2 * in->n_mean);
    tu_buf dimage = tu_zeros(t, in->n_image), image = tu_alloc(t, in->n_latent_img);
    vkd_clip_outputs co = {.last_hidden_state = text.addr};
    vkd_clip_forward(&m->clip, &m->text_p, t->s, &a, &co, in->ids.addr, 2, in->T);
    vkd_unet_saved* sv = vkd_unet_saved_new();
    vkd_unet_forward(&m->unet, &m->unet_p, NULL, t->s, &a, eps.addr, in->sample.addr, in->ts.addr, in->ctx.addr, 0,
                     in->B, in->H, in->W, in->Tc, sv, NULL);
    vkd_unet_backward(&m->unet, &m->unet_p, NULL, t->s, &a, dsample.addr, dctx.addr, 0, in->g_unet.addr, sv);
    vkd_vae_encode_saved* es = calloc(1, sizeof *es);
    vkd_vae_encode_forward(&m->vae, &m->vae_p, t->s, &a, moments.addr, in->image.addr, 1, in->IH, in->IW, es);
    // d<mean, g>/d moments is g on the mean half: the cotangent goes into the first L channels.
    vkd_stream_copy(t->s, dmoments.addr, in->g_enc.addr, (uint32_t)in->n_mean);
    vkd_vae_encode_backward(&m->vae, &m->vae_p, t->s, &a, dimage.addr, dmoments.addr, es);
    vkd_vae_decode_forward(&m->vae, &m->vae_p, t->s, &a, image.addr, in->latent.addr, 1, in->lh, in->lw, NULL);
    bool ok = tu_run(t);
    if (ok) {
        o->text = tu_download_d(t, text), o->eps = tu_download_d(t, eps), o->dsample = tu_download_d(t, dsample);
        o->dctx = tu_download_d(t, dctx), o->dimage = tu_download_d(t, dimage), o->image = tu_download_d(t, image);
        double* mo = tu_download_d(t, moments);
        o->mean = tu_alloc_d(in->n_mean);
        memcpy(o->mean, mo, in->n_mean * sizeof *mo);  // B = 1: the first L channels
        free(mo);
    }
    vkd_unet_saved_free(sv);
    free(es);
    tu_buf* bufs[] = {&text, &eps, &dsample, &dctx, &moments, &dmoments, &dimage, &image};
    for (size_t i = 0; i < sizeof bufs / sizeof bufs[0]; i++) tu_free(t, bufs[i]);
    vkd_arena_free(&a);
    return ok;
}

static double max_abs(const double* x, size_t n) {
    double m = 0;
    for (size_t i = 0; i < n; i++) m = fmax(m, fabs(x[i]));
    return m;
}

static tu_buf upload_fixture(tu_ctx* t, const vkd_safetensors* f, const char* name, size_t n, double** keep) {
    double* x = tu_fixture_read(t, f, name, n);
    tu_buf b = x ? tu_upload_d(t, x, n) : tu_zeros(t, n);
    if (keep) *keep = x;
    else free(x);
    return b;
}

void test_sd_f16(tu_ctx* t) {
    tu_case(t, "sd-tiny with fp16 weights");
    char dir[1024];
    tu_fixture_path(dir, sizeof dir, "");
    vkd_error e = {0};
    vkd_sd_model *m16 = NULL, *m32 = NULL;
    bool ok = vkd_sd_load(t->gpu, dir, &(vkd_sd_load_desc){.f16 = true}, &m16, &e) == VKD_OK &&
              vkd_sd_load(t->gpu, dir, &(vkd_sd_load_desc){0}, &m32, &e) == VKD_OK;
    if (!tu_check(t, ok, "load %s twice (fp16, fp32): %s", dir, e.msg)) goto done;
    ok = round_like(t, &m32->text_p, &m16->text_p) && round_like(t, &m32->unet_p, &m16->unet_p) &&
         round_like(t, &m32->vae_p, &m16->vae_p);
    if (!ok) goto done;

    vkd_safetensors *ft = tu_fixture_open(t, "text_encoder/case_forward.safetensors"),
                    *fu = tu_fixture_open(t, "unet/case_backward.safetensors"),
                    *fe = tu_fixture_open(t, "vae/case_encode.safetensors"),
                    *fd = tu_fixture_open(t, "vae/case_decode.safetensors");
    if (!ft || !fu || !fe || !fd) goto close;
    inputs in = {.B = 2, .T = 77, .H = 8, .W = 8, .Tc = 7, .D = m16->clip.d.hidden_size, .IH = 16, .IW = 16, .L = 4,
                 .lh = 8, .lw = 8};
    in.n_text = (size_t)2 * in.T * in.D, in.n_eps = (size_t)in.B * 4 * in.H * in.W;
    in.n_ctx = (size_t)in.B * in.Tc * m16->unet.d.cross_attention_dim;
    in.n_image = (size_t)3 * in.IH * in.IW, in.n_mean = (size_t)in.L * in.lh * in.lw, in.n_latent_img = in.n_image;
    {
        double* ids = tu_fixture_read(t, ft, "input_ids", 2 * in.T);
        int32_t iv[2 * 77];
        // The tiny encoder's vocabulary is 1000 ids; the fixture's ids are all inside it.
        for (uint32_t i = 0; ids && i < 2 * in.T; i++) iv[i] = (int32_t)ids[i];
        free(ids);
        in.ids = tu_upload_f(t, (const float*)(const void*)iv, 2 * in.T);  // raw int32 words
    }
    double *ref_text = NULL, *ref_eps = NULL, *ref_ds = NULL, *ref_dctx = NULL, *ref_mean = NULL, *ref_dimg = NULL,
           *ref_img = NULL;
    in.sample = upload_fixture(t, fu, "sample", in.n_eps, NULL);
    in.ts = upload_fixture(t, fu, "timestep", in.B, NULL);
    in.ctx = upload_fixture(t, fu, "encoder_hidden_states", in.n_ctx, NULL);
    in.g_unet = upload_fixture(t, fu, "cotangent", in.n_eps, NULL);
    in.image = upload_fixture(t, fe, "image", in.n_image, NULL);
    in.g_enc = upload_fixture(t, fe, "cotangent", in.n_mean, NULL);
    in.latent = upload_fixture(t, fd, "latent", in.n_mean, NULL);
    ref_text = tu_fixture_read(t, ft, "last_hidden_state", in.n_text);
    ref_eps = tu_fixture_read(t, fu, "out", in.n_eps);
    ref_ds = tu_fixture_read(t, fu, "grad_sample", in.n_eps);
    ref_dctx = tu_fixture_read(t, fu, "grad_encoder_hidden_states", in.n_ctx);
    ref_mean = tu_fixture_read(t, fe, "mean", in.n_mean);
    ref_dimg = tu_fixture_read(t, fe, "grad_image", in.n_image);
    ref_img = tu_fixture_read(t, fd, "image", in.n_image);

    run_out o16 = {0}, o32 = {0};
    if (run_model(t, m16, &in, &o16) && run_model(t, m32, &in, &o32)) {
        struct {
            const char* name;
            const double *h, *r, *ref;
            size_t n;
        } cmp[] = {
            {"text encoder last_hidden_state", o16.text, o32.text, ref_text, in.n_text},
            {"UNet out", o16.eps, o32.eps, ref_eps, in.n_eps},
            {"UNet grad_sample", o16.dsample, o32.dsample, ref_ds, in.n_eps},
            {"UNet grad_encoder_hidden_states", o16.dctx, o32.dctx, ref_dctx, in.n_ctx},
            {"VAE encode mean", o16.mean, o32.mean, ref_mean, in.n_mean},
            {"VAE encoder grad_image", o16.dimage, o32.dimage, ref_dimg, in.n_image},
            {"VAE decode image", o16.image, o32.image, ref_img, in.n_image},
        };
        for (size_t i = 0; i < sizeof cmp / sizeof cmp[0]; i++) {
            char what[160];
            snprintf(what, sizeof what, "%s: fp16 weights = fp32 on the same rounded weights", cmp[i].name);
            tu_check_close(t, what, cmp[i].h, cmp[i].r, cmp[i].n, 1e-5, 1e-6);
            if (!cmp[i].ref) continue;
            snprintf(what, sizeof what, "%s: fp16 weights vs the fp32 reference, bound 1e-2 max(1, max|ref|)",
                     cmp[i].name);
            double bound = 1e-2 * fmax(1.0, max_abs(cmp[i].ref, cmp[i].n));
            tu_check_close(t, what, cmp[i].h, cmp[i].ref, cmp[i].n, 0.0, bound);
        }
    }
    run_out_free(&o16);
    run_out_free(&o32);
    double* refs[] = {ref_text, ref_eps, ref_ds, ref_dctx, ref_mean, ref_dimg, ref_img};
    for (size_t i = 0; i < sizeof refs / sizeof refs[0]; i++) free(refs[i]);
    tu_buf* bufs[] = {&in.ids, &in.sample, &in.ts, &in.ctx, &in.g_unet, &in.image, &in.g_enc, &in.latent};
    for (size_t i = 0; i < sizeof bufs / sizeof bufs[0]; i++) tu_free(t, bufs[i]);
close:
    if (ft) vkd_safetensors_close(ft);
    if (fu) vkd_safetensors_close(fu);
    if (fe) vkd_safetensors_close(fe);
    if (fd) vkd_safetensors_close(fd);
done:
    if (m16) vkd_sd_free(m16);
    if (m32) vkd_sd_free(m32);
}

#else
void test_sd_f16(tu_ctx* t) {
    tu_case(t, "sd fp16 (the SD modules are not compiled in)");
}
#endif
