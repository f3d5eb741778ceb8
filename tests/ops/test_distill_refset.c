// End to end: score distillation reconstructs a known object. A colored Gaussian object is
// rendered from a ring of reference cameras; those renders, registered per view-dependent
// prompt ("a toy, front view", ...) and weighted by camera direction, make the reference-set
// prior; a distractor object's renders join the unconditional set, so CFG pushes away from
// it. Gaussians distilled from a random gray ball with SDS (vkd_distill_step) must match the
// object on held-out views (silhouette IoU, mean color error). Short BSD, ASD and VSD (with the
// reference-set phi) runs must stay finite and improve on the initial state; progressive
// resolution goes through the resize path; seeded runs are bitwise reproducible, also across
// a checkpoint and resume; a prior that returns NaN makes every step skip without touching
// the Gaussians or their optimizer state.
#define _POSIX_C_SOURCE 200809L
#include "harness.h"
#include "vkdream/distill.h"
#include "vkdream/refset_prior.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define RW 32
#define RH 32
#define RPIX (RW * RH)
#define N_AZ 24
#define N_EL 3
#define N_REF (N_AZ * N_EL)
#define N_HELD 6
#define CAM_DIST 2.6f
#define CAM_FOV 49.1f

static const float ref_el[N_EL] = {0, 20, 40};

static double now_s(void) {
    struct timespec ts;
    timespec_get(&ts, TIME_UTC);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static bool ok_st(tu_ctx* t, vkd_status st, const vkd_error* err, const char* what) {
    return tu_check(t, st == VKD_OK, "%s%s%s", what, st ? ": " : "", st ? err->msg : "");
}

static void ellipsoid_point(tu_ctx* t, const double c[3], const double r[3], float out[3]) {
    double u[3];
    do {
        for (int k = 0; k < 3; k++) u[k] = tu_uniform(t, -1, 1);
    } while (u[0] * u[0] + u[1] * u[1] + u[2] * u[2] > 1);
    for (int k = 0; k < 3; k++) out[k] = (float)(c[k] + r[k] * u[k]);
}

// Opaque Gaussians filling ellipsoids: `parts` of them with centers, radii, colors, counts.
static vkd_status make_object(tu_ctx* t, vkd_gaussians_host* h, int parts, const double (*centers)[3],
                              const double (*radii)[3], const double (*colors)[3], const uint32_t* counts,
                              vkd_error* err) {
    uint32_t total = 0;
    for (int b = 0; b < parts; b++) total += counts[b];
    vkd_status st = vkd_gaussians_host_alloc(h, total, 0, err);
    if (st) return st;
    uint32_t i = 0;
    for (int b = 0; b < parts; b++)
        for (uint32_t j = 0; j < counts[b]; j++, i++) {
            ellipsoid_point(t, centers[b], radii[b], &h->means[3 * i]);
            for (int k = 0; k < 3; k++) h->log_scales[3 * i + k] = (float)log(0.07);
            h->quats[4 * i] = 1, h->quats[4 * i + 1] = h->quats[4 * i + 2] = h->quats[4 * i + 3] = 0;
            h->opacity_logits[i] = 4.0f;
            for (int k = 0; k < 3; k++) h->sh[3 * i + k] = (float)((colors[b][k] - 0.5) / VKD_SH_C0);
        }
    return VKD_OK;
}

// Renders host Gaussians from cams into rgb (views, 3, RH, RW) and alpha (views, RH, RW) on the host.
static bool render_host(tu_ctx* t, vkd_splat_ctx* ctx, const vkd_gaussians_host* h, const vkd_camera* cams,
                        int views, float* rgb, float* alpha) {
    vkd_error err = {0};
    vkd_gaussians* g = NULL;
    bool ok = ok_st(t, vkd_gaussians_create(t->gpu, &(vkd_gaussians_desc){.capacity = h->count}, &g, &err), &err,
                    "create") &&
              ok_st(t, vkd_gaussians_upload(g, t->s, h, NULL, NULL, &err), &err, "upload");
    tu_buf c = tu_alloc(t, (size_t)views * 3 * RPIX), a = tu_alloc(t, (size_t)views * RPIX);
    if (ok) {
        vkd_splat_params p;
        vkd_gaussians_params(g, &p);
        vkd_splat_outputs o = {.rgb = c.addr, .alpha = a.addr};
        ok = ok_st(t, vkd_splat_forward(ctx, t->s, &o, &p, cams, views, NULL, &err), &err, "render") && tu_run(t);
    }
    if (ok) ok = !vkd_buffer_download(t->gpu, &c.b, 0, rgb, 4 * c.n, &err);
    if (ok && alpha) ok = !vkd_buffer_download(t->gpu, &a.b, 0, alpha, 4 * a.n, &err);
    tu_free(t, &c), tu_free(t, &a);
    if (g) vkd_gaussians_destroy(g);
    return ok;
}

typedef struct scores {
    double iou, color;   // mean over the held-out views
} scores;

// Silhouette IoU (alpha > 0.5) and mean |rgb difference| inside the true silhouette.
static scores score(const float* rgb, const float* alpha, const float* trgb, const float* talpha) {
    scores s = {0};
    for (int v = 0; v < N_HELD; v++) {
        int inter = 0, uni = 0, inside = 0;
        double cerr = 0;
        for (int i = 0; i < RPIX; i++) {
            bool a = alpha[v * RPIX + i] > 0.5f, b = talpha[v * RPIX + i] > 0.5f;
            inter += a && b, uni += a || b;
            if (b) {
                inside++;
                for (int c = 0; c < 3; c++)
                    cerr += fabs(rgb[(v * 3 + c) * RPIX + i] - trgb[(v * 3 + c) * RPIX + i]) / 3;
            }
        }
        s.iou += uni ? (double)inter / uni : 1;
        s.color += inside ? cerr / inside : 0;
    }
    s.iou /= N_HELD, s.color /= N_HELD;
    return s;
}

typedef struct world {
    vkd_camera ref_cams[N_REF], held[N_HELD];
    float ref_c2w[N_REF * 16];
    float* obj;       // (N_REF, 3, RH, RW)
    float* ball;      // (N_REF, 3, RH, RW)
    float held_rgb[N_HELD * 3 * RPIX], held_alpha[N_HELD * RPIX];
    vkd_splat_ctx* ctx;
    vkd_prior* prior;
    // Per view bin, the object's images (copied contiguous) and cameras.
    float* bin_img[VKD_VIEW_COUNT];
    float* bin_c2w[VKD_VIEW_COUNT];
    uint32_t bin_count[VKD_VIEW_COUNT];
    char bin_prompt[VKD_VIEW_COUNT][64];
} world;

static bool build_world(tu_ctx* t, world* w) {
    vkd_error err = {0};
    for (int e = 0; e < N_EL; e++)
        for (int a = 0; a < N_AZ; a++) {
            int i = e * N_AZ + a;
            w->ref_cams[i] = vkd_camera_orbit(&(vkd_orbit_desc){.azimuth_deg = -180.0f + 360.0f / N_AZ * a,
                                                                .elevation_deg = ref_el[e], .distance = CAM_DIST,
                                                                .fov_y_deg = CAM_FOV, .width = RW, .height = RH});
            vkd_camera_to_world(&w->ref_cams[i], w->ref_c2w + 16 * i);
        }
    // Held-out views fall between the reference cameras.
    for (int j = 0; j < N_HELD; j++)
        w->held[j] = vkd_camera_orbit(&(vkd_orbit_desc){.azimuth_deg = -172.5f + 60.0f * j,
                                                        .elevation_deg = j % 2 ? 30.0f : 10.0f, .distance = CAM_DIST,
                                                        .fov_y_deg = CAM_FOV, .width = RW, .height = RH});
    if (!ok_st(t, vkd_splat_ctx_create(t->gpu, NULL, &w->ctx, &err), &err, "splat ctx")) return false;
    static const double oc[3][3] = {{-0.28, 0.08, 0.0}, {0.28, 0.02, 0.06}, {0.0, -0.3, -0.08}};
    static const double orad[3][3] = {{0.2, 0.3, 0.2}, {0.24, 0.18, 0.24}, {0.32, 0.1, 0.2}};
    static const double ocol[3][3] = {{0.9, 0.15, 0.1}, {0.1, 0.8, 0.2}, {0.15, 0.25, 0.95}};
    static const uint32_t ocount[3] = {120, 100, 80};
    static const double bc[1][3] = {{0.0, 0.1, 0.0}}, brad[1][3] = {{0.45, 0.45, 0.45}}, bcol[1][3] = {{0.95, 0.9, 0.2}};
    static const uint32_t bcount[1] = {250};
    vkd_gaussians_host ho = {0}, hb = {0};
    w->obj = malloc(sizeof(float) * N_REF * 3 * RPIX);
    w->ball = malloc(sizeof(float) * N_REF * 3 * RPIX);
    bool ok = w->obj && w->ball &&
              ok_st(t, make_object(t, &ho, 3, oc, orad, ocol, ocount, &err), &err, "object") &&
              ok_st(t, make_object(t, &hb, 1, bc, brad, bcol, bcount, &err), &err, "ball") &&
              render_host(t, w->ctx, &ho, w->ref_cams, N_REF, w->obj, NULL) &&
              render_host(t, w->ctx, &hb, w->ref_cams, N_REF, w->ball, NULL) &&
              render_host(t, w->ctx, &ho, w->held, N_HELD, w->held_rgb, w->held_alpha);
    vkd_gaussians_host_free(&ho);
    vkd_gaussians_host_free(&hb);
    if (!ok) return false;
    // Sets: the object per view bin, the distractor under its own prompt.
    vkd_refset_set sets[VKD_VIEW_COUNT + 1];
    int ns = 0;
    for (int v = 0; v < VKD_VIEW_COUNT; v++) {
        w->bin_img[v] = malloc(sizeof(float) * N_REF * 3 * RPIX);
        w->bin_c2w[v] = malloc(sizeof(float) * N_REF * 16);
        w->bin_count[v] = 0;
        for (int i = 0; i < N_REF; i++) {
            float az = -180.0f + 360.0f / N_AZ * (i % N_AZ), el = ref_el[i / N_AZ];
            if ((int)vkd_view_of(az, el) != v) continue;
            uint32_t k = w->bin_count[v]++;
            memcpy(w->bin_img[v] + (size_t)k * 3 * RPIX, w->obj + (size_t)i * 3 * RPIX, sizeof(float) * 3 * RPIX);
            memcpy(w->bin_c2w[v] + 16 * k, w->ref_c2w + 16 * i, sizeof(float) * 16);
        }
        vkd_view_prompt(w->bin_prompt[v], sizeof w->bin_prompt[v], "a toy", (vkd_view)v);
        if (w->bin_count[v])
            sets[ns++] = (vkd_refset_set){.prompt = w->bin_prompt[v], .images = w->bin_img[v], .c2w = w->bin_c2w[v],
                                          .count = w->bin_count[v]};
    }
    sets[ns++] = (vkd_refset_set){.prompt = "a ball", .images = w->ball, .c2w = w->ref_c2w, .count = N_REF};
    vkd_refset_desc rd = {.width = RW, .height = RH, .sets = sets, .set_count = (uint32_t)ns, .view_sigma_deg = 10};
    return ok_st(t, vkd_refset_prior_create(t->gpu, &rd, &w->prior, &err), &err, "refset prior");
}

static void free_world(world* w) {
    vkd_prior_destroy(w->prior);
    if (w->ctx) vkd_splat_ctx_destroy(w->ctx);
    for (int v = 0; v < VKD_VIEW_COUNT; v++) free(w->bin_img[v]), free(w->bin_c2w[v]);
    free(w->obj), free(w->ball);
}

static vkd_gaussians_desc model_desc(uint32_t steps) {
    return (vkd_gaussians_desc){
        .capacity = 4096,
        .seed = 99,
        .lr = {.position_init = 2e-3f, .position_final = 2e-4f, .position_max_steps = steps, .feature = 0.03f,
               .opacity = 0.05f, .scaling = 0.01f, .rotation = 0.005f},
    };
}

// A gray ball of Gaussians wrapped as a representation.
static vkd_repr* make_model(tu_ctx* t, uint32_t steps, const vkd_repr_gaussians_desc* rd) {
    vkd_error err = {0};
    vkd_gaussians* g = NULL;
    vkd_gaussians_desc gd = model_desc(steps);
    if (!ok_st(t, vkd_gaussians_create(t->gpu, &gd, &g, &err), &err, "create model")) return NULL;
    vkd_gaussians_sphere_desc sd = {.count = 600, .radius = 0.6f, .color = VKD_GAUSSIANS_COLOR_GRAY, .seed = 5};
    vkd_repr* r = NULL;
    if (!ok_st(t, vkd_gaussians_init_sphere(g, t->s, &sd, &err), &err, "init sphere") ||
        !ok_st(t, vkd_repr_gaussians_create(t->gpu, g, rd, &r, &err), &err, "repr")) {
        vkd_gaussians_destroy(g);
        return NULL;
    }
    return r;
}

static scores eval(tu_ctx* t, world* w, vkd_repr* r) {
    scores s = {NAN, NAN};
    vkd_error err = {0};
    tu_buf c = tu_alloc(t, N_HELD * 3 * RPIX), a = tu_alloc(t, N_HELD * RPIX);
    float* rgb = malloc(sizeof(float) * c.n);
    float* alpha = malloc(sizeof(float) * a.n);
    if (ok_st(t, r->vt->render(r, t->s, c.addr, a.addr, w->held, N_HELD, NULL, &err), &err, "held-out render") &&
        tu_run(t) && !vkd_buffer_download(t->gpu, &c.b, 0, rgb, 4 * c.n, &err) &&
        !vkd_buffer_download(t->gpu, &a.b, 0, alpha, 4 * a.n, &err))
        s = score(rgb, alpha, w->held_rgb, w->held_alpha);
    free(rgb), free(alpha);
    tu_free(t, &c), tu_free(t, &a);
    return s;
}

static vkd_distill_desc loop_desc(vkd_guidance_method m, uint32_t steps, uint64_t seed) {
    return (vkd_distill_desc){
        .prompt = "a toy",
        .batch = 4,
        .width = RW,
        .height = RH,
        .cameras = {.elevation_deg = {0, 40}, .azimuth_deg = {-180, 180}, .distance = {CAM_DIST, CAM_DIST},
                    .fov_y_deg = {CAM_FOV, CAM_FOV}},
        .guidance = {.method = m, .guidance_scale = 3},
        .tsched = {.kind = VKD_TSCHED_STEP, .anneal_steps = steps / 2},
        .seed = seed,
    };
}

typedef struct run_result {
    scores before, after;
    double seconds, loss_first, loss_last;
    uint32_t skipped, size_before, size_after;
    bool finite;
} run_result;

// Runs `steps` steps of method m from a fresh gray ball; the loss is averaged over the first
// and last tenth of the run.
static run_result run(tu_ctx* t, world* w, vkd_guidance_method m, uint32_t steps, const vkd_repr_gaussians_desc* rd) {
    run_result res = {.finite = true};
    vkd_error err = {0};
    vkd_repr* r = make_model(t, steps, rd);
    vkd_distill* d = NULL;
    if (!r) return res;
    res.before = eval(t, w, r);
    res.size_before = (uint32_t)r->vt->size(r);
    vkd_distill_desc dd = loop_desc(m, steps, 2024);
    double t0 = now_s();
    if (!ok_st(t, vkd_distill_create(t->gpu, w->prior, r, &dd, &d, &err), &err, "distill create")) goto done;
    uint32_t tenth = steps / 10 ? steps / 10 : 1;
    for (uint32_t i = 0; i < steps; i++) {
        vkd_distill_step_info info;
        if (!ok_st(t, vkd_distill_step(d, t->s, &info, &err), &err, "step")) goto done;
        res.finite &= isfinite(info.loss) && !info.skipped;
        if (i < tenth) res.loss_first += info.loss / tenth;
        if (i >= steps - tenth) res.loss_last += info.loss / tenth;
        res.skipped = info.skipped_total;
    }
    res.seconds = now_s() - t0;
    res.after = eval(t, w, r);
    res.size_after = (uint32_t)r->vt->size(r);
done:
    vkd_distill_destroy(d);
    vkd_repr_destroy(r);
    return res;
}

static void sds_case(tu_ctx* t, world* w) {
    const uint32_t steps = 160;
    tu_case(t, "SDS reconstructs the object: %u steps x 4 views at %dx%d", steps, RW, RH);
    // Densify / prune twice in the middle of the run (DreamGaussian's schedule, shortened).
    vkd_repr_gaussians_desc rd = {.densify = {.grad_threshold = 0.05f, .min_opacity = 0.02f, .no_size_prune = true},
                                  .densify_from = 80, .densify_until = 80, .densify_interval = 80,
                                  .opacity_reset_interval = 100000};
    run_result r = run(t, w, VKD_GUIDANCE_SDS, steps, &rd);
    tu_check(t, r.size_after != r.size_before, "densification ran: %u -> %u Gaussians", r.size_before, r.size_after);
    tu_check(t, r.finite && r.skipped == 0, "every step finite (%u skipped)", r.skipped);
    // Measured on lavapipe (2 cores): IoU 0.964, color error 0.025 (from 0.688 and 0.309), ~8.4 s;
    // the 40-step runs below: BSD 0.856 / 0.200, ASD 0.829 / 0.197, VSD 0.887 / 0.112.
    tu_check(t, r.after.iou >= 0.92, "held-out silhouette IoU %.3f >= 0.92 (initial %.3f; %.1f s)", r.after.iou,
             r.before.iou, r.seconds);
    tu_check(t, r.after.color <= 0.05, "held-out mean color error %.4f <= 0.05 (initial %.4f)", r.after.color,
             r.before.color);
}

static void short_case(tu_ctx* t, world* w, vkd_guidance_method m) {
    const uint32_t steps = 40;
    tu_case(t, "%s: %u steps without divergence", vkd_guidance_method_name(m), steps);
    vkd_repr_gaussians_desc rd = {.no_densify = true};
    run_result r = run(t, w, m, steps, &rd);
    tu_check(t, r.finite && r.skipped == 0, "every step finite (%u skipped)", r.skipped);
    tu_check(t, r.after.iou > r.before.iou + 0.1 && r.after.color < r.before.color - 0.05,
             "held-out IoU %.3f (initial %.3f), color error %.4f (initial %.4f); %.1f s", r.after.iou, r.before.iou,
             r.after.color, r.before.color, r.seconds);
    tu_check(t, r.loss_last < r.loss_first, "loss decreasing: %.4g (first tenth) -> %.4g (last tenth)", r.loss_first,
             r.loss_last);
}

static bool download_params(tu_ctx* t, vkd_repr* r, vkd_gaussians_host* h) {
    vkd_error err = {0};
    return ok_st(t, vkd_gaussians_download(vkd_repr_gaussians_get(r), t->s, VKD_GAUSSIANS_PARAMS, h, &err), &err,
                 "download params");
}

static bool same_params(const vkd_gaussians_host* a, const vkd_gaussians_host* b) {
    return a->count == b->count &&
           !memcmp(a->data, b->data, sizeof(float) * a->count * vkd_gaussians_row_floats(a->sh_degree));
}

// Runs `steps` steps with seed `seed` from the fresh gray ball and returns the parameters.
static bool seeded_run(tu_ctx* t, world* w, vkd_guidance_method m, uint64_t seed, uint32_t steps,
                       vkd_gaussians_host* out) {
    vkd_error err = {0};
    vkd_repr_gaussians_desc rd = {.no_densify = true};
    vkd_repr* r = make_model(t, 100, &rd);
    vkd_distill* d = NULL;
    vkd_distill_desc dd = loop_desc(m, 100, seed);
    bool ok = r && ok_st(t, vkd_distill_create(t->gpu, w->prior, r, &dd, &d, &err), &err, "distill create");
    for (uint32_t i = 0; ok && i < steps; i++) ok = ok_st(t, vkd_distill_step(d, t->s, NULL, &err), &err, "step");
    ok = ok && download_params(t, r, out);
    vkd_distill_destroy(d);
    vkd_repr_destroy(r);
    return ok;
}

// Resuming: `first` steps, a checkpoint, a fresh representation loaded from it and a new
// loop set to continue at step `first`, then the rest.
static bool resumed_run(tu_ctx* t, world* w, vkd_guidance_method m, uint64_t seed, uint32_t first, uint32_t steps,
                        const char* path, vkd_gaussians_host* out) {
    vkd_error err = {0};
    vkd_repr_gaussians_desc rd = {.no_densify = true, .load = model_desc(100)};
    vkd_distill_desc dd = loop_desc(m, 100, seed);
    vkd_repr* r = make_model(t, 100, &rd);
    vkd_distill* d = NULL;
    bool ok = r && ok_st(t, vkd_distill_create(t->gpu, w->prior, r, &dd, &d, &err), &err, "distill create");
    for (uint32_t i = 0; ok && i < first; i++) ok = ok_st(t, vkd_distill_step(d, t->s, NULL, &err), &err, "step");
    ok = ok && ok_st(t, r->vt->save(r, t->s, path, &err), &err, "save checkpoint");
    vkd_distill_destroy(d);
    vkd_repr_destroy(r);
    d = NULL;
    r = ok ? make_model(t, 100, &rd) : NULL;
    ok = r && ok_st(t, r->vt->load(r, t->s, path, &err), &err, "load checkpoint") &&
         ok_st(t, vkd_distill_create(t->gpu, w->prior, r, &dd, &d, &err), &err, "distill create");
    if (ok) vkd_distill_set_step(d, first);
    for (uint32_t i = first; ok && i < steps; i++) ok = ok_st(t, vkd_distill_step(d, t->s, NULL, &err), &err, "step");
    ok = ok && download_params(t, r, out);
    vkd_distill_destroy(d);
    vkd_repr_destroy(r);
    return ok;
}

static void repro_case(tu_ctx* t, world* w) {
    tu_case(t, "seeded runs are reproducible, also across a checkpoint and resume");
    vkd_gaussians_host a = {0}, b = {0}, c = {0}, e = {0};
    char dir[] = "/tmp/vkd_distill_XXXXXX", path[64] = "";
    if (!tu_check(t, mkdtemp(dir) != NULL, "temporary directory")) return;
    snprintf(path, sizeof path, "%s/ckpt.safetensors", dir);
    if (seeded_run(t, w, VKD_GUIDANCE_ASD, 7, 4, &a) && seeded_run(t, w, VKD_GUIDANCE_ASD, 7, 4, &b) &&
        seeded_run(t, w, VKD_GUIDANCE_ASD, 8, 4, &c) && resumed_run(t, w, VKD_GUIDANCE_ASD, 7, 2, 4, path, &e)) {
        tu_check(t, same_params(&a, &b), "same seed: bitwise identical Gaussians after 4 ASD steps");
        tu_check(t, !same_params(&a, &c), "another seed: different Gaussians");
        tu_check(t, same_params(&a, &e), "2 steps, checkpoint, resume at step 2, 2 steps: identical to 4 steps");
    }
    remove(path);
    rmdir(dir);
    vkd_gaussians_host_free(&a), vkd_gaussians_host_free(&b), vkd_gaussians_host_free(&c);
    vkd_gaussians_host_free(&e);
}

// A prior whose images hold a NaN: every gradient is NaN, every step must be skipped and
// reported, and the Gaussians (and their optimizer state) left exactly as they were.
static void nan_case(tu_ctx* t, world* w) {
    tu_case(t, "a NaN gradient skips the step");
    vkd_error err = {0};
    float* img = malloc(sizeof(float) * 3 * RPIX);
    memcpy(img, w->obj, sizeof(float) * 3 * RPIX);
    img[123] = NAN;
    vkd_refset_set set = {.prompt = "poison", .images = img, .count = 1};
    vkd_prior* p = NULL;
    vkd_repr_gaussians_desc rd = {.no_densify = true};
    vkd_repr* r = make_model(t, 100, &rd);
    vkd_distill *d = NULL, *good = NULL;
    vkd_gaussians_host before = {0}, after = {0}, m0 = {0}, m1 = {0};
    if (!r ||
        !ok_st(t, vkd_refset_prior_create(t->gpu, &(vkd_refset_desc){.width = RW, .height = RH, .sets = &set,
                                                                     .set_count = 1},
                                          &p, &err),
               &err, "poisoned prior"))
        goto done;
    vkd_distill_desc dd = loop_desc(VKD_GUIDANCE_SDS, 100, 3);
    dd.prompt = "poison";
    dd.no_view_prompts = true;
    vkd_gaussians* g = vkd_repr_gaussians_get(r);
    if (!ok_st(t, vkd_distill_create(t->gpu, p, r, &dd, &d, &err), &err, "distill create") ||
        !download_params(t, r, &before) ||
        !ok_st(t, vkd_gaussians_download(g, t->s, VKD_GAUSSIANS_ADAM_M, &m0, &err), &err, "moments"))
        goto done;
    vkd_distill_step_info info[2];
    for (int i = 0; i < 2; i++)
        if (!ok_st(t, vkd_distill_step(d, t->s, &info[i], &err), &err, "poisoned step")) goto done;
    tu_check(t, info[0].skipped && info[1].skipped && info[1].skipped_total == 2 && !isfinite(info[1].loss),
             "both steps skipped and reported (skipped %d %d, total %u, loss %g)", info[0].skipped, info[1].skipped,
             info[1].skipped_total, info[1].loss);
    if (!download_params(t, r, &after) ||
        !ok_st(t, vkd_gaussians_download(g, t->s, VKD_GAUSSIANS_ADAM_M, &m1, &err), &err, "moments"))
        goto done;
    tu_check(t, same_params(&before, &after) && same_params(&m0, &m1) && vkd_gaussians_step_count(g) == 0,
             "Gaussians and Adam state untouched (optimizer steps %u)", vkd_gaussians_step_count(g));
    // The representation is not poisoned: a step with the real prior goes through.
    vkd_distill_desc gd = loop_desc(VKD_GUIDANCE_SDS, 100, 3);
    vkd_distill_step_info gi;
    if (ok_st(t, vkd_distill_create(t->gpu, w->prior, r, &gd, &good, &err), &err, "distill create") &&
        ok_st(t, vkd_distill_step(good, t->s, &gi, &err), &err, "clean step"))
        tu_check(t, !gi.skipped && isfinite(gi.loss) && vkd_gaussians_step_count(g) == 1,
                 "then a clean step updates (loss %g)", gi.loss);
done:
    vkd_gaussians_host_free(&before), vkd_gaussians_host_free(&after);
    vkd_gaussians_host_free(&m0), vkd_gaussians_host_free(&m1);
    vkd_distill_destroy(d);
    vkd_distill_destroy(good);
    vkd_repr_destroy(r);
    vkd_prior_destroy(p);
    free(img);
}

// Progressive resolution: renders at 24x24 are resized (bilinear, and back in the backward)
// to the prior's 32x32, then from step 2 on rendered at 32x32 directly.
static void resolution_case(tu_ctx* t, world* w) {
    tu_case(t, "progressive render resolution through the resize path");
    vkd_error err = {0};
    vkd_repr_gaussians_desc rd = {.no_densify = true};
    vkd_repr* r = make_model(t, 100, &rd);
    vkd_distill* d = NULL;
    vkd_distill_desc dd = loop_desc(VKD_GUIDANCE_SDS, 100, 11);
    dd.width = dd.height = 24;
    dd.res[0] = (vkd_res_milestone){.step = 2, .width = RW, .height = RH};
    if (r && ok_st(t, vkd_distill_create(t->gpu, w->prior, r, &dd, &d, &err), &err, "distill create")) {
        uint32_t sizes[3] = {0};
        bool finite = true;
        for (int i = 0; i < 3; i++) {
            vkd_distill_step_info info;
            if (!ok_st(t, vkd_distill_step(d, t->s, &info, &err), &err, "step")) break;
            sizes[i] = info.width;
            finite &= !info.skipped && isfinite(info.loss) && info.loss > 0;
        }
        tu_check(t, sizes[0] == 24 && sizes[1] == 24 && sizes[2] == RW && finite,
                 "render sizes %u %u %u (want 24 24 %d), every step finite", sizes[0], sizes[1], sizes[2], RW);
        tu_check(t, vkd_gaussians_step_count(vkd_repr_gaussians_get(r)) == 3, "three updates");
    }
    vkd_distill_destroy(d);
    vkd_repr_destroy(r);
}

void test_distill_refset(tu_ctx* t) {
    tu_case(t, "reference set: %d views of the object and of a distractor at %dx%d", N_REF, RW, RH);
    world w;
    memset(&w, 0, sizeof w);
    if (build_world(t, &w)) {
        sds_case(t, &w);
        short_case(t, &w, VKD_GUIDANCE_BSD);
        short_case(t, &w, VKD_GUIDANCE_ASD);
        short_case(t, &w, VKD_GUIDANCE_VSD);
        resolution_case(t, &w);
        repro_case(t, &w);
        nan_case(t, &w);
    }
    free_world(&w);
}
