#define _POSIX_C_SOURCE 200809L
// Stable Diffusion as a distillation prior (src/prior/sd_prior.c) on the sd-tiny fixture
// folder: the latent path (z = scaling * mean(VAE encoder(2 x - 1)) and its backward)
// against the golden VAE case, the prediction against the UNet called directly, and short
// SDS and VSD runs on Gaussians through the whole latent loop (finite, the asset changes, VSD's
// LoRA phi trains).
#include "harness.h"
#include "vkdream/distill.h"
#include "vkdream/nn/arena.h"
#include "vkdream/prior/sd.h"
#include "vkdream/prior/sd_prior.h"
#include "vkdream/safetensors.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static bool ok_st(tu_ctx* t, vkd_status st, const vkd_error* e, const char* what) {
    return tu_check(t, st == VKD_OK, "%s%s%s", what, st ? ": " : "", st ? e->msg : "");
}

static vkd_prior* open_prior(tu_ctx* t, bool f16) {
    char dir[1024];
    tu_fixture_path(dir, sizeof dir, "");
    vkd_prior* p = NULL;
    vkd_error e = {0};
    vkd_sd_prior_desc d = {.fold_token_ids = true, .render_size = 16, .f16 = f16};
    return ok_st(t, vkd_sd_prior_create(t->gpu, dir, &d, &p, &e), &e, "open sd-tiny as a prior") ? p : NULL;
}

static double* read_d(tu_ctx* t, vkd_safetensors* st, const char* name, size_t n) {
    float* f = malloc(n * 4);
    vkd_error e = {0};
    ok_st(t, vkd_safetensors_read_f32(st, name, f, n, &e), &e, name);
    double* d = tu_alloc_d(n);
    for (size_t i = 0; i < n; i++) d[i] = f[i];
    free(f);
    return d;
}

static void latent_case(tu_ctx* t) {
    tu_case(t, "latent path: encode and encode backward against the VAE fixture");
    vkd_prior* p = open_prior(t, false);
    char path[1024];
    tu_fixture_path(path, sizeof path, "vae/case_encode.safetensors");
    vkd_safetensors* c = NULL;
    vkd_error e = {0};
    if (!p || !ok_st(t, vkd_safetensors_open(path, &c, &e), &e, "case_encode")) goto done;
    tu_check(t, p->space == VKD_PRIOR_LATENT && p->channels == 4 && p->downsample == 2, "latent prior: C %u, f %u",
             p->channels, p->downsample);
    size_t ni = 3 * 16 * 16, nz = 4 * 8 * 8;
    double* img = read_d(t, c, "image", ni);
    double* mean = read_d(t, c, "mean", nz);
    double* g = read_d(t, c, "cotangent", nz);
    double* gi = read_d(t, c, "grad_image", ni);
    for (size_t i = 0; i < ni; i++) img[i] = (img[i] + 1) / 2;  // renders are in [0, 1]
    tu_buf x = tu_upload_d(t, img, ni), z = tu_zeros(t, nz), dz = tu_upload_d(t, g, nz), dx = tu_zeros(t, ni);
    double sc = 0.18215;
    bool ran = ok_st(t, vkd_prior_encode(p, t->s, z.addr, x.addr, 1, 16, 16, &e), &e, "encode") &&
               ok_st(t, vkd_prior_encode_backward(p, t->s, dx.addr, dz.addr, 1, 16, 16, &e), &e, "encode backward") &&
               tu_run(t);
    if (ran) {
        for (size_t i = 0; i < nz; i++) mean[i] *= sc;
        for (size_t i = 0; i < ni; i++) gi[i] *= 2 * sc;  // d/dx01 = 2 d/dx, dz = g -> dmean = scaling g
        double* zg = tu_download_d(t, z);
        double* dg = tu_download_d(t, dx);
        double mz = 0, mg = 0;
        for (size_t i = 0; i < nz; i++) mz = fmax(mz, fabs(mean[i]));
        for (size_t i = 0; i < ni; i++) mg = fmax(mg, fabs(gi[i]));
        tu_check_close(t, "z = scaling * mean", zg, mean, nz, 0, 1e-4 * fmax(1, mz));
        tu_check_close(t, "d<z, g>/d render", dg, gi, ni, 0, 1e-4 * mg);
        free(zg), free(dg);
    }
    tu_free(t, &x), tu_free(t, &z), tu_free(t, &dz), tu_free(t, &dx);
    free(img), free(mean), free(g), free(gi);
done:
    if (c) vkd_safetensors_close(c);
    if (p) vkd_prior_destroy(p);
}

typedef struct run_out {
    bool finite;
    double moved;   // max |change| of the Gaussians' colors
    double phi_loss;
} run_out;

static run_out distill_run(tu_ctx* t, vkd_prior* prior, vkd_guidance_method m, uint32_t steps) {
    run_out r = {.finite = true, .moved = 0, .phi_loss = NAN};
    vkd_error e = {0};
    vkd_gaussians* g = NULL;
    vkd_repr* rep = NULL;
    vkd_distill* d = NULL;
    vkd_gaussians_host before = {0}, after = {0};
    if (!ok_st(t, vkd_gaussians_create(t->gpu, &(vkd_gaussians_desc){.capacity = 512}, &g, &e), &e, "gaussians") ||
        !ok_st(t, vkd_gaussians_init_sphere(g, t->s, &(vkd_gaussians_sphere_desc){.count = 300, .radius = 0.5f}, &e), &e,
               "init") ||
        !ok_st(t, vkd_repr_gaussians_create(t->gpu, g, &(vkd_repr_gaussians_desc){.no_densify = true}, &rep, &e), &e,
               "repr")) {
        if (g && !rep) vkd_gaussians_destroy(g);
        return r;
    }
    vkd_distill_desc dd = {.prompt = "a red cube", .batch = 1, .width = 16, .height = 16,
                           .guidance = {.method = m, .guidance_scale = 7.5f}, .seed = 3};
    ok_st(t, vkd_gaussians_download(vkd_repr_gaussians_get(rep), t->s, VKD_GAUSSIANS_PARAMS, &before, &e), &e, "before");
    if (ok_st(t, vkd_distill_create(t->gpu, prior, rep, &dd, &d, &e), &e, "distill"))
        for (uint32_t i = 0; i < steps; i++) {
            vkd_distill_step_info info;
            if (!ok_st(t, vkd_distill_step(d, t->s, &info, &e), &e, "step")) {
                r.finite = false;
                break;
            }
            r.finite &= !info.skipped && isfinite(info.loss);
            r.phi_loss = info.phi_loss;
        }
    if (ok_st(t, vkd_gaussians_download(vkd_repr_gaussians_get(rep), t->s, VKD_GAUSSIANS_PARAMS, &after, &e), &e,
              "after") &&
        after.count == before.count)
        for (uint32_t i = 0; i < 3 * before.count; i++) r.moved = fmax(r.moved, fabs(after.sh[i] - before.sh[i]));
    vkd_gaussians_host_free(&before), vkd_gaussians_host_free(&after);
    vkd_distill_destroy(d);
    vkd_repr_destroy(rep);
    return r;
}

static void loop_case(tu_ctx* t) {
    tu_case(t, "SDS and VSD through the latent loop of sd-tiny");
    vkd_prior* p = open_prior(t, false);
    if (!p) return;
    run_out sds = distill_run(t, p, VKD_GUIDANCE_SDS, 3);
    tu_check(t, sds.finite && sds.moved > 0, "SDS: 3 steps finite, colors moved by %.3g", sds.moved);
    run_out vsd = distill_run(t, p, VKD_GUIDANCE_VSD, 2);
    tu_check(t, vsd.finite && vsd.moved > 0 && isfinite(vsd.phi_loss) && vsd.phi_loss > 0,
             "VSD: 2 steps finite, colors moved by %.3g, phi (LoRA UNet) loss %.4g", vsd.moved, vsd.phi_loss);
    vkd_prior_destroy(p);
    // fp16 weights: VSD's LoRA backward then runs through the fp16 base UNet.
    p = open_prior(t, true);
    if (!p) return;
    sds = distill_run(t, p, VKD_GUIDANCE_SDS, 3);
    tu_check(t, sds.finite && sds.moved > 0, "fp16 weights, SDS: 3 steps finite, colors moved by %.3g", sds.moved);
    vsd = distill_run(t, p, VKD_GUIDANCE_VSD, 2);
    tu_check(t, vsd.finite && vsd.moved > 0 && isfinite(vsd.phi_loss) && vsd.phi_loss > 0,
             "fp16 weights, VSD: 2 steps finite, colors moved by %.3g, phi loss %.4g", vsd.moved, vsd.phi_loss);
    vkd_prior_destroy(p);
}

// The same model from an original single file (written from the folder by the converter)
// gives the same latents as from the folder.
static void single_file_case(tu_ctx* t) {
    tu_case(t, "single-file checkpoint as a prior");
    char dir[1024], tokdir[1100], file[] = "/tmp/vkd_sd_single_XXXXXX";
    tu_fixture_path(dir, sizeof dir, "");
    snprintf(tokdir, sizeof tokdir, "%s/tokenizer", dir);
    int fd = mkstemp(file);
    if (fd >= 0) close(fd);
    vkd_error e = {0};
    vkd_prior *pf = NULL, *ps = NULL;
    // The tiny text encoder's heads (width 32) cannot be inferred: its config comes with it.
    vkd_sd_prior_desc d = {.fold_token_ids = true, .render_size = 16, .tokenizer_dir = tokdir, .config_dir = dir};
    bool ok = ok_st(t, vkd_sd_write_single_file(dir, file, NULL, &e), &e, "convert") &&
              ok_st(t, vkd_sd_prior_create(t->gpu, dir, &d, &pf, &e), &e, "folder") &&
              ok_st(t, vkd_sd_prior_create(t->gpu, file, &d, &ps, &e), &e, "single file");
    if (ok) {
        size_t ni = 3 * 16 * 16, nz = 4 * 8 * 8;
        double* img = tu_alloc_d(ni);
        for (size_t i = 0; i < ni; i++) img[i] = tu_uniform(t, 0, 1);
        tu_buf x = tu_upload_d(t, img, ni), za = tu_zeros(t, nz), zb = tu_zeros(t, nz);
        ok = ok_st(t, vkd_prior_encode(pf, t->s, za.addr, x.addr, 1, 16, 16, &e), &e, "encode (folder)") &&
             ok_st(t, vkd_prior_encode(ps, t->s, zb.addr, x.addr, 1, 16, 16, &e), &e, "encode (file)") && tu_run(t);
        if (ok) {
            double* a = tu_download_d(t, za);
            double* b = tu_download_d(t, zb);
            tu_check_close(t, "latents from the single file", b, a, nz, 0, 1e-6);
            free(a), free(b);
        }
        tu_check(t, ps->prediction == pf->prediction && ps->alphas_cumprod[500] == pf->alphas_cumprod[500],
                 "same schedule and prediction type");
        tu_free(t, &x), tu_free(t, &za), tu_free(t, &zb);
        free(img);
    }
    vkd_prior_destroy(pf);
    vkd_prior_destroy(ps);
    unlink(file);
    d.tokenizer_dir = NULL;
    vkd_status st = vkd_sd_prior_create(t->gpu, "/work/main/CMakeLists.txt", &d, &ps, &e);
    tu_check(t, st != VKD_OK && strstr(e.msg, "tokenizer"), "single file without a tokenizer: %s", e.msg);
}

static void errors_case(tu_ctx* t) {
    tu_case(t, "errors name the folder");
    vkd_prior* p = NULL;
    vkd_error e = {0};
    vkd_status st = vkd_sd_prior_create(t->gpu, "/nonexistent/model", NULL, &p, &e);
    tu_check(t, st != VKD_OK && strstr(e.msg, "/nonexistent/model") && strstr(e.msg, "unet/config.json"), "%s", e.msg);
    char dir[1024];
    tu_fixture_path(dir, sizeof dir, "");
    st = vkd_sd_prior_create(t->gpu, dir, NULL, &p, &e);  // no folding: 49408 tokens vs 1000 embeddings
    tu_check(t, st == VKD_ERR_INVALID && strstr(e.msg, "49408") && strstr(e.msg, "1000"), "%s", e.msg);
}

void test_sd_prior(tu_ctx* t) {
    latent_case(t);
    loop_case(t);
    single_file_case(t);
    errors_case(t);
}
