// The score-distillation loop (include/vkdream/distill.h).
#include "vkdream/distill.h"
#include "vkdream/nn/resize.h"
#include "distill/loop.h"
#include "vkd_shaders.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

// RNG streams of one step (vkd_rng_for's third key).
enum { RNG_CAMERAS = 1, RNG_T, RNG_T_PLUS, RNG_PHI, RNG_NOISE, RNG_PHI_NOISE };

#define MAX_RANGES 16

void vkd_nonfinite_flag(vkd_stream* s, vkd_addr flag, vkd_addr src, uint32_t n) {
    if (!n) return;
    vkd_nonfinite_push p = {.flag = flag, .src = src, .n = n};
    vkd_stream_dispatch_1d(s, VKD_KERNEL(distill_loop_nonfinite), &p, sizeof p, n, 256);
}

static void range_or(const float in[2], float lo, float hi, float out[2]) {
    if (in[0] == 0 && in[1] == 0) out[0] = lo, out[1] = hi;
    else out[0] = in[0], out[1] = in[1];
}

void vkd_sample_cameras(const vkd_camera_range* rg, uint32_t width, uint32_t height, vkd_rng* r, uint32_t B,
                        vkd_camera_sample* out) {
    float el[2], az[2], dist[2], fov[2];
    range_or(rg->elevation_deg, -10, 45, el);
    range_or(rg->azimuth_deg, -180, 180, az);
    range_or(rg->distance, 1.5f, 2.0f, dist);
    range_or(rg->fov_y_deg, 40, 70, fov);
    for (uint32_t b = 0; b < B; b++) {
        vkd_camera_sample* c = &out[b];
        // Fixed draw order, so a seed gives the same cameras on every platform.
        double u0 = vkd_rng_uniform(r), u1 = vkd_rng_uniform(r), u2 = vkd_rng_uniform(r), u3 = vkd_rng_uniform(r);
        c->elevation_deg = (float)(el[0] + (el[1] - el[0]) * u0);
        c->azimuth_deg = (float)(az[0] + (az[1] - az[0]) * u1);
        c->distance = (float)(dist[0] + (dist[1] - dist[0]) * u2);
        c->fov_y_deg = (float)(fov[0] + (fov[1] - fov[0]) * u3);
        c->cam = vkd_camera_orbit(&(vkd_orbit_desc){.azimuth_deg = c->azimuth_deg,
                                                    .elevation_deg = c->elevation_deg,
                                                    .distance = c->distance,
                                                    .fov_y_deg = c->fov_y_deg,
                                                    .width = (int32_t)width,
                                                    .height = (int32_t)height,
                                                    .target = {rg->target[0], rg->target[1], rg->target[2]}});
        vkd_camera_to_world(&c->cam, c->c2w);
    }
}

struct vkd_distill {
    vkd_gpu* gpu;
    vkd_prior* prior;
    vkd_repr* repr;
    vkd_distill_desc d;
    char* prompt;
    char* negative;
    vkd_guidance* guidance;
    vkd_prior_phi* phi;
    // Conditions, encoded on first use: per view (or the plain prompt at [VKD_VIEW_COUNT]),
    // and the negative prompt.
    vkd_prior_cond* cond[VKD_VIEW_COUNT + 1];
    vkd_prior_cond* uncond;
    uint32_t step;
    uint32_t skipped;
    // Scratch: renders and their gradients at the render size, the prior-size copies when
    // resizing, z and dz, the finiteness flag.
    vkd_buffer rgb, drgb, prgb, dprgb, z, dz, flag;
    uint64_t cap_img, cap_pimg, cap_z;
    // The latest step's prior-side input (for vkd_distill_prior_image): in prgb when resized.
    uint32_t last_pw, last_ph;
    bool last_resized;
};

static char* dup_str(const char* s) {
    size_t n = strlen(s) + 1;
    char* r = malloc(n);
    if (r) memcpy(r, s, n);
    return r;
}

void vkd_distill_destroy(vkd_distill* d) {
    if (!d) return;
    for (int i = 0; i <= VKD_VIEW_COUNT; i++) vkd_prior_cond_free(d->prior, d->cond[i]);
    vkd_prior_cond_free(d->prior, d->uncond);
    vkd_guidance_destroy(d->guidance);
    vkd_prior_phi_destroy(d->phi);
    vkd_buffer* bufs[] = {&d->rgb, &d->drgb, &d->prgb, &d->dprgb, &d->z, &d->dz, &d->flag};
    for (size_t i = 0; i < sizeof bufs / sizeof bufs[0]; i++) vkd_buffer_free(d->gpu, bufs[i]);
    free(d->prompt);
    free(d->negative);
    free(d);
}

vkd_status vkd_distill_create(vkd_gpu* gpu, vkd_prior* prior, vkd_repr* repr, const vkd_distill_desc* desc,
                              vkd_distill** out, vkd_error* err) {
    *out = NULL;
    if (!desc->prompt) return vkd_error_set(err, VKD_ERR_INVALID, "distill: a prompt is required");
    vkd_status st = vkd_tsched_validate(&desc->tsched, err);
    if (st) return vkd_error_prefix(err, "distill: ");
    vkd_tsched_desc ts = desc->tsched;
    if (ts.num_timesteps && ts.num_timesteps != prior->num_timesteps)
        return vkd_error_set(err, VKD_ERR_INVALID, "distill: the t schedule has %u timesteps, the prior %s %u",
                             ts.num_timesteps, prior->name, prior->num_timesteps);
    vkd_distill* d = calloc(1, sizeof *d);
    if (!d) return vkd_error_set(err, VKD_ERR_OUT_OF_MEMORY, "distill: out of host memory");
    d->gpu = gpu;
    d->prior = prior;
    d->repr = repr;
    d->d = *desc;
    if (!d->d.batch) d->d.batch = 1;
    if (!d->d.width) d->d.width = 64;
    if (!d->d.height) d->d.height = 64;
    if (d->d.phi_camera_drop == 0) d->d.phi_camera_drop = 0.1f;
    d->d.tsched.num_timesteps = prior->num_timesteps;
    d->prompt = dup_str(desc->prompt);
    d->negative = dup_str(desc->negative_prompt ? desc->negative_prompt : "");
    d->d.prompt = d->prompt;
    d->d.negative_prompt = d->negative;
    vkd_stream* s = NULL;
    if (!d->prompt || !d->negative) {
        st = vkd_error_set(err, VKD_ERR_OUT_OF_MEMORY, "distill: out of host memory");
        goto fail;
    }
    for (int i = 0; i < VKD_DISTILL_MAX_MILESTONES && d->d.res[i].width; i++)
        if (!d->d.res[i].height || (i && d->d.res[i].step < d->d.res[i - 1].step)) {
            st = vkd_error_set(err, VKD_ERR_INVALID,
                               "distill: resolution milestone %d (step %u, %ux%u) needs a height and steps in order", i,
                               d->d.res[i].step, d->d.res[i].width, d->d.res[i].height);
            goto fail;
        }
    if (desc->guidance.method == VKD_GUIDANCE_VSD) {
        st = vkd_stream_create(gpu, &s, err);
        if (!st) st = vkd_prior_phi_create(prior, s, &desc->phi, &d->phi, err);
        if (!st) st = vkd_stream_submit(s, err);
        vkd_stream_destroy(s);
        if (st) goto fail;
    }
    st = vkd_guidance_create(gpu, prior, d->phi, &desc->guidance, &d->guidance, err);
    if (st) goto fail;
    st = vkd_buffer_alloc(gpu, 4, &d->flag, err);
    if (st) goto fail;
    *out = d;
    return VKD_OK;
fail:
    vkd_distill_destroy(d);
    return st;
}

uint32_t vkd_distill_step_count(const vkd_distill* d) { return d->step; }

vkd_status vkd_distill_prior_image(vkd_distill* d, float** chw, uint32_t* w, uint32_t* h, vkd_error* err) {
    *chw = NULL;
    if (!d->last_pw) return vkd_error_set(err, VKD_ERR_INVALID, "distill: no step taken yet: no prior-side image");
    size_t n = (size_t)3 * d->last_pw * d->last_ph;
    float* out = malloc(n * sizeof *out);
    if (!out) return vkd_error_set(err, VKD_ERR_OUT_OF_MEMORY, "distill: out of host memory");
    // View 0 comes first in the (B, 3, h, w) buffers; every step submits before it returns.
    vkd_status st = vkd_buffer_download(d->gpu, d->last_resized ? &d->prgb : &d->rgb, 0, out, n * sizeof *out, err);
    if (st) {
        free(out);
        return st;
    }
    *chw = out, *w = d->last_pw, *h = d->last_ph;
    return VKD_OK;
}
void vkd_distill_set_step(vkd_distill* d, uint32_t step) { d->step = step; }

void vkd_distill_resolution(const vkd_distill* d, uint32_t step, uint32_t* w, uint32_t* h) {
    *w = d->d.width, *h = d->d.height;
    for (int i = 0; i < VKD_DISTILL_MAX_MILESTONES && d->d.res[i].width; i++)
        if (step >= d->d.res[i].step) *w = d->d.res[i].width, *h = d->d.res[i].height;
}

void vkd_distill_plan(const vkd_distill* d, uint32_t step, vkd_camera_sample* cams, int32_t* t) {
    uint32_t w, h, B = d->d.batch;
    vkd_distill_resolution(d, step, &w, &h);
    if (cams) {
        vkd_rng r = vkd_rng_for(d->d.seed, step, RNG_CAMERAS);
        vkd_sample_cameras(&d->d.cameras, w, h, &r, B, cams);
    }
    if (t) {
        vkd_rng r = vkd_rng_for(d->d.seed, step, RNG_T);
        for (uint32_t b = 0; b < B; b++) t[b] = vkd_tsched_sample(&d->d.tsched, step, &r);
    }
}

static vkd_status grow(vkd_distill* d, vkd_stream* s, vkd_buffer* a, vkd_buffer* b, uint64_t* cap, uint64_t floats,
                       vkd_error* err) {
    if (floats <= *cap) return VKD_OK;
    // Recorded work may still read the old buffers.
    vkd_status st = vkd_stream_submit(s, err);
    if (st) return st;
    vkd_buffer_free(d->gpu, a);
    vkd_buffer_free(d->gpu, b);
    *cap = 0;
    st = vkd_buffer_alloc(d->gpu, floats * 4, a, err);
    if (!st) st = vkd_buffer_alloc(d->gpu, floats * 4, b, err);
    if (st) return vkd_error_prefix(err, "distill: scratch of %llu floats: ", (unsigned long long)floats);
    *cap = floats;
    return VKD_OK;
}

static vkd_status get_cond(vkd_distill* d, vkd_stream* s, int slot, vkd_prior_cond** out, vkd_error* err) {
    vkd_prior_cond** c = slot < 0 ? &d->uncond : &d->cond[slot];
    if (!*c) {
        char text[1024];
        if (slot < 0) snprintf(text, sizeof text, "%s", d->negative);
        else if (slot == VKD_VIEW_COUNT) snprintf(text, sizeof text, "%s", d->prompt);
        else if (vkd_view_prompt(text, sizeof text, d->prompt, (vkd_view)slot) >= (int)sizeof text)
            return vkd_error_set(err, VKD_ERR_INVALID, "distill: prompt longer than %zu characters",
                                 sizeof text - 32);
        vkd_status st = vkd_prior_encode_prompt(d->prior, s, text, c, err);
        if (st) return vkd_error_prefix(err, "distill: encoding the prompt \"%s\": ", text);
    }
    *out = *c;
    return VKD_OK;
}

static double now_s(void) {
    struct timespec ts;
    timespec_get(&ts, TIME_UTC);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

vkd_status vkd_distill_step(vkd_distill* d, vkd_stream* s, vkd_distill_step_info* info, vkd_error* err) {
    double t0 = now_s();
    const uint32_t B = d->d.batch, step = d->step;
    vkd_prior* pr = d->prior;
    uint32_t w, h;
    vkd_distill_resolution(d, step, &w, &h);
    // The prior's own size when it has one (SD: 512), else the render size.
    uint32_t pw = pr->width ? pr->width : w, ph = pr->height ? pr->height : h;
    bool resize = pw != w || ph != h;
    uint32_t f = pr->downsample ? pr->downsample : 1;
    if (pw % f || ph % f)
        return vkd_error_set(err, VKD_ERR_INVALID, "distill: prior input %ux%u is not a multiple of its downsample %u",
                             pw, ph, f);
    uint32_t zw = pw / f, zh = ph / f;
    uint64_t n_img = (uint64_t)B * 3 * w * h, n_pimg = (uint64_t)B * 3 * pw * ph,
             n_z = (uint64_t)B * pr->channels * zw * zh;
    if (n_img > UINT32_MAX || n_pimg > UINT32_MAX || n_z > UINT32_MAX)
        return vkd_error_set(err, VKD_ERR_INVALID, "distill: batch %u at %ux%u exceeds 2^32 values", B, w, h);

    vkd_camera_sample* cs = calloc(B, sizeof *cs);
    vkd_camera* cams = calloc(B, sizeof *cams);
    float* c2w = calloc(16 * (size_t)B, sizeof *c2w);
    int32_t* t = calloc(4 * (size_t)B, sizeof *t);
    vkd_prior_cond** cc = calloc(2 * (size_t)B, sizeof *cc);
    bool* drop = calloc(B, sizeof *drop);
    vkd_status st = VKD_OK;
    if (!cs || !cams || !c2w || !t || !cc || !drop) {
        st = vkd_error_set(err, VKD_ERR_OUT_OF_MEMORY, "distill: out of host memory");
        goto done;
    }
    int32_t *t_plus = t + B, *phi_t = t + 2 * B;
    vkd_distill_plan(d, step, cs, t);
    for (uint32_t b = 0; b < B; b++) {
        cams[b] = cs[b].cam;
        memcpy(c2w + 16 * (size_t)b, cs[b].c2w, sizeof cs[b].c2w);
        int slot = d->d.no_view_prompts ? VKD_VIEW_COUNT : (int)vkd_view_of(cs[b].azimuth_deg, cs[b].elevation_deg);
        st = get_cond(d, s, slot, &cc[b], err);
        if (!st) st = get_cond(d, s, -1, &cc[B + b], err);
        if (st) goto done;
    }
    const vkd_guidance_desc* gd = vkd_guidance_get_desc(d->guidance);
    if (gd->method == VKD_GUIDANCE_ASD) {
        vkd_rng r = vkd_rng_for(d->d.seed, step, RNG_T_PLUS);
        int32_t lo, hi;
        vkd_tsched_range(&d->d.tsched, step, &lo, &hi);
        for (uint32_t b = 0; b < B; b++)
            t_plus[b] = vkd_asd_t_plus(t[b], lo, gd->asd_eta, vkd_rng_uniform(&r), pr->num_timesteps);
    }
    if (gd->method == VKD_GUIDANCE_VSD) {
        vkd_rng r = vkd_rng_for(d->d.seed, step, RNG_PHI);
        for (uint32_t b = 0; b < B; b++) {
            phi_t[b] = vkd_rng_int(&r, 0, (int32_t)pr->num_timesteps - 1);
            drop[b] = d->d.phi_camera_drop > 0 && vkd_rng_uniform(&r) < d->d.phi_camera_drop;
        }
    }

    st = grow(d, s, &d->rgb, &d->drgb, &d->cap_img, n_img, err);
    if (!st && resize) st = grow(d, s, &d->prgb, &d->dprgb, &d->cap_pimg, n_pimg, err);
    if (!st) st = grow(d, s, &d->z, &d->dz, &d->cap_z, n_z, err);
    if (st) goto done;
    vkd_addr img = resize ? d->prgb.addr : d->rgb.addr, dimg = resize ? d->dprgb.addr : d->drgb.addr;

    // Forward: render, resize, encode.
    st = d->repr->vt->render(d->repr, s, d->rgb.addr, 0, cams, B, d->d.bg, err);
    if (st) goto done;
    if (resize) vkd_resize_bilinear_forward(s, d->prgb.addr, d->rgb.addr, B, 3, h, w, ph, pw);
    d->last_pw = pw, d->last_ph = ph, d->last_resized = resize;
    st = vkd_prior_encode(pr, s, d->z.addr, img, B, ph, pw, err);
    if (st) goto done;
    // The guidance gradient w.r.t. z, then back to the renders and the representation.
    vkd_stream_fill(s, d->dz.addr, (uint32_t)n_z, 0);
    vkd_guidance_batch bt = {.B = B,
                             .t = t,
                             .t_plus = t_plus,
                             .cond = cc,
                             .uncond = cc + B,
                             .c2w = c2w,
                             .noise_seed = vkd_rng_for(d->d.seed, step, RNG_NOISE).state,
                             .step = step,
                             .phi_t = phi_t,
                             .phi_drop_camera = drop,
                             .phi_noise_seed = vkd_rng_for(d->d.seed, step, RNG_PHI_NOISE).state};
    st = vkd_guidance_grad(d->guidance, s, d->dz.addr, d->z.addr, &bt, zh, zw, err);
    if (st) goto done;
    vkd_stream_fill(s, dimg, (uint32_t)(resize ? n_pimg : n_img), 0);
    st = vkd_prior_encode_backward(pr, s, dimg, d->dz.addr, B, ph, pw, err);
    if (st) goto done;
    if (resize) {
        vkd_stream_fill(s, d->drgb.addr, (uint32_t)n_img, 0);
        vkd_resize_bilinear_backward(s, d->drgb.addr, d->dprgb.addr, B, 3, h, w, ph, pw);
    }
    st = d->repr->vt->backward(d->repr, s, d->drgb.addr, 0, cams, B, d->d.bg, err);
    if (st) goto done;

    // A NaN or Inf anywhere in the gradients: skip the update.
    vkd_addr ra[MAX_RANGES];
    uint32_t rn[MAX_RANGES];
    uint32_t nr = d->repr->vt->grad_ranges(d->repr, ra, rn, MAX_RANGES);
    vkd_stream_fill(s, d->flag.addr, 1, 0);
    for (uint32_t i = 0; i < nr; i++) vkd_nonfinite_flag(s, d->flag.addr, ra[i], rn[i]);
    st = vkd_stream_submit(s, err);
    uint32_t flag = 0;
    if (!st) st = vkd_buffer_download(d->gpu, &d->flag, 0, &flag, 4, err);
    if (st) goto done;
    bool skip = flag != 0;
    st = skip ? d->repr->vt->discard(d->repr, s, err) : d->repr->vt->step(d->repr, s, step, err);
    if (!st) st = vkd_stream_submit(s, err);
    if (st) goto done;
    vkd_guidance_stats gs;
    st = vkd_guidance_read_stats(d->guidance, &gs, err);
    if (st) goto done;
    d->skipped += skip;
    d->step++;
    if (info) {
        int32_t tmin = t[0], tmax = t[0];
        for (uint32_t b = 1; b < B; b++) {
            if (t[b] < tmin) tmin = t[b];
            if (t[b] > tmax) tmax = t[b];
        }
        *info = (vkd_distill_step_info){.step = step,
                                        .skipped = skip,
                                        .skipped_total = d->skipped,
                                        .loss = gs.loss,
                                        .grad_norm = gs.grad_norm,
                                        .lambda_mean = gs.lambda_mean,
                                        .phi_loss = gs.phi_loss,
                                        .t_min = tmin,
                                        .t_max = tmax,
                                        .width = w,
                                        .height = h,
                                        .repr_size = d->repr->vt->size(d->repr),
                                        .seconds = now_s() - t0};
    }
done:
    free(cs);
    free(cams);
    free(c2w);
    free(t);
    free(cc);
    free(drop);
    return st;
}
