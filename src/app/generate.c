// `vkdream generate "<prompt>"`: prompt in, 3D asset out. Resolves the scene (defaults, scene
// file, flags), builds the prior and the representation, runs the distillation loop with a
// live progress line, previews, log.csv and periodic checkpoints, and writes the asset, a
// turntable with its contact sheet and the resolved scene. Ctrl-C or a failure keeps (and
// writes) a checkpoint; --resume continues from it.
#define _POSIX_C_SOURCE 200809L
#include "app/commands.h"
#include "app/generate.h"
#include "app/scene.h"
#include "app/viewer.h"
#include "vkdream/distill.h"
#include "vkdream/image.h"
#include "vkdream/refset_prior.h"

#include <errno.h>
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

static volatile sig_atomic_t interrupted = 0;
static void on_signal(int sig) {
    (void)sig;
    interrupted = 1;
}

static double now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static void usage(FILE* f) {
    fprintf(f,
            "usage: vkdream generate \"<prompt>\" [--scene FILE] [--model builtin|shapes|DIR|FILE]\n"
            "                        [--method sds|vsd|bsd|asd] [--repr gaussians|nerf] [--steps N]\n"
            "                        [--seed S] [--out DIR] [--resume] [--quiet] [--view] [--<scene key> VALUE ...]\n"
            "\n"
            "Optimizes a 3D asset for the prompt by score distillation and writes into --out:\n"
            "  scene.ini          the resolved settings (vkdream generate --scene out/scene.ini reproduces the run)\n"
            "  log.csv            step, loss terms, t range, render size, asset size, seconds\n"
            "  preview/           a front view every preview_every steps\n"
            "  checkpoint.*       the representation with its optimizer state (also on Ctrl-C or failure)\n"
            "  asset.ply | nerf.safetensors   the result (3DGS .ply for Gaussians)\n"
            "  turntable/, turntable.png      turntable frames and their contact sheet\n"
            "\n"
            "Live viewer:\n"
            "  --view             watch the optimisation in a window (drag: orbit, right-drag: pan, scroll: zoom,\n"
            "                     R: reset, A: auto-rotate, 1-5: RGB / normals / depth / opacity / centers,\n"
            "                     space: pause, S: screenshot + checkpoint, E: export a mesh now, Q/Esc: stop\n"
            "                     with a checkpoint). Without a display it says so and runs on headless.\n"
            "  --view-close       as --view, and close the window when the run ends\n"
            "  --screenshot-after N FILE   (with --view) save frame N to FILE and close the window (stops the run)\n"
            "\n"
            "Priors (--model): builtin (the default: vkdream's own small text-to-image model in assets/builtin,\n"
            "trained on procedural objects: prompts like \"a red cube\", \"a green torus\"), shapes (the exact denoiser of renders of\n"
            "a procedural object named by the prompt, e.g. \"a red cube\": a prior with a known answer), or a\n"
            "Stable Diffusion diffusers folder / single .safetensors file.\n"
            "\n"
            "Every scene key is also a flag (--section.key or --key when unique):\n");
    vkd_scene_help(f);
}

static int make_dir(const char* path, vkd_error* err) {
    if (mkdir(path, 0755) && errno != EEXIST)
        return vkd_error_set(err, VKD_ERR_IO, "%s: cannot create folder: %s", path, strerror(errno));
    return VKD_OK;
}

// ---------------------------------------------------------------------------
// Settings -> engine descs

static vkd_tsched_kind tsched_kind(const char* s) {
    return !strcmp(s, "uniform") ? VKD_TSCHED_UNIFORM
           : !strcmp(s, "step")  ? VKD_TSCHED_STEP
           : !strcmp(s, "sqrt")  ? VKD_TSCHED_SQRT
                                 : VKD_TSCHED_LINEAR;
}

static vkd_status distill_desc_from_scene(const vkd_scene* sc, vkd_distill_desc* d, vkd_error* err) {
    *d = (vkd_distill_desc){
        .prompt = sc->prompt,
        .negative_prompt = sc->negative_prompt,
        .no_view_prompts = !sc->view_dependent,
        .batch = (uint32_t)sc->batch,
        .width = (uint32_t)sc->width,
        .height = (uint32_t)sc->height,
        .cameras = {.elevation_deg = {sc->elevation_min, sc->elevation_max},
                    .azimuth_deg = {sc->azimuth_min, sc->azimuth_max},
                    .distance = {sc->distance_min, sc->distance_max},
                    .fov_y_deg = {sc->fov_min, sc->fov_max}},
        .bg = {sc->background[0], sc->background[1], sc->background[2]},
        .tsched = {.kind = tsched_kind(sc->t_schedule), .t_min = sc->t_min, .t_max = sc->t_max,
                   .t_max_end = sc->t_anneal_max, .anneal_steps = (uint32_t)sc->t_anneal_steps},
        .phi = {.lr = sc->vsd_lora_lr, .lora_rank = (uint32_t)sc->vsd_lora_rank},
        .phi_camera_drop = sc->vsd_camera_drop > 0 ? sc->vsd_camera_drop : -1.0f,
        .seed = (uint64_t)sc->seed,
    };
    if (!strcmp(sc->t_schedule, "uniform")) d->tsched.anneal_steps = 0;
    vkd_status st = vkd_guidance_method_parse(sc->method, &d->guidance.method, err);
    if (st) return st;
    if ((st = vkd_weighting_parse(sc->weighting, &d->guidance.weighting, err))) return st;
    d->guidance.guidance_scale = d->guidance.method == VKD_GUIDANCE_VSD ? sc->vsd_guidance_scale : sc->guidance_scale;
    d->guidance.clip = (vkd_clip_schedule){.start_value = sc->grad_clip,
                                           .end_value = sc->grad_clip_end > 0 ? sc->grad_clip_end : sc->grad_clip,
                                           .start_step = 0,
                                           .end_step = sc->grad_clip_end > 0 ? (uint32_t)sc->steps : 0};
    d->guidance.bsd_variant = !strcmp(sc->bsd_variant, "auto") ? VKD_BSD_AUTO : VKD_BSD_STANDARD;
    d->guidance.bsd_k = sc->bsd_lambda;
    d->guidance.asd_eta = sc->asd_eta;
    // Progressive resolution: from res_start, doubling up to width over res_ramp_steps.
    if (sc->res_start > 0 && sc->res_start < sc->width) {
        uint32_t w = (uint32_t)sc->res_start, k = 0, levels = 0;
        for (uint32_t x = w; x < (uint32_t)sc->width; x *= 2) levels++;
        d->width = (uint32_t)sc->res_start;
        d->height = (uint32_t)((int64_t)sc->res_start * sc->height / sc->width);
        for (uint32_t x = w * 2; k < levels && k < VKD_DISTILL_MAX_MILESTONES; x *= 2, k++) {
            uint32_t xw = x < (uint32_t)sc->width ? x : (uint32_t)sc->width;
            d->res[k] = (vkd_res_milestone){.step = (uint32_t)sc->res_ramp_steps * (k + 1) / levels,
                                            .width = xw, .height = (uint32_t)((int64_t)xw * sc->height / sc->width)};
        }
    }
    return VKD_OK;
}

// ---------------------------------------------------------------------------
// Prior and representation

static vkd_status make_prior(vkd_gpu* gpu, const vkd_scene* sc, vkd_prior** out, vkd_error* err) {
    if (!strcmp(sc->model, "shapes"))
        return vkd_shapes_prior_create(gpu,
                                       &(vkd_shapes_prior_desc){.prompt = sc->prompt,
                                                                .width = (uint32_t)sc->width,
                                                                .height = (uint32_t)sc->height,
                                                                .distance = 0.5f * (sc->distance_min + sc->distance_max),
                                                                .fov_y_deg = 0.5f * (sc->fov_min + sc->fov_max),
                                                                .background = {sc->background[0], sc->background[1],
                                                                               sc->background[2]},
                                                                .view_prompts = sc->view_dependent},
                                       out, err);
    return vkd_generate_open_model(gpu, sc, out, err);
}

static vkd_status make_repr(vkd_gpu* gpu, vkd_stream* s, const vkd_scene* sc, vkd_repr** out, vkd_error* err) {
    vkd_status st;
    if (!strcmp(sc->repr, "nerf")) {
        vkd_repr_nerf_desc nd = {
            .nerf = {.field = {.grid = {.levels = (uint32_t)sc->nerf_levels, .log2_table = (uint32_t)sc->nerf_log2_table},
                               .bound = sc->nerf_radius},
                     .num_steps = (uint32_t)sc->nerf_samples,
                     .lr = {.grid = sc->nerf_lr_grid, .density_mlp = sc->nerf_lr_mlp, .feature_mlp = sc->nerf_lr_mlp}},
            .reg = {.sparsity = sc->nerf_opacity_weight, .opaque = sc->nerf_entropy_weight,
                    .orientation = sc->nerf_orientation_weight},
            .shading_mix = !strcmp(sc->shading, "mixed"),
            .seed = (uint64_t)sc->seed,
        };
        return vkd_repr_nerf_create(gpu, NULL, &nd, out, err);
    }
    vkd_gaussians_desc gd = {
        .capacity = (uint32_t)sc->gs_points * 2,
        .sh_degree = sc->gs_sh_degree,
        .seed = (uint32_t)sc->seed,
        .lr = {.position_init = sc->gs_lr_position, .position_final = sc->gs_lr_position * 0.02f,
               .position_max_steps = (uint32_t)sc->steps, .feature = sc->gs_lr_color, .opacity = sc->gs_lr_opacity,
               .scaling = sc->gs_lr_scale, .rotation = sc->gs_lr_rotation},
    };
    vkd_gaussians* g = NULL;
    if ((st = vkd_gaussians_create(gpu, &gd, &g, err))) return st;
    vkd_gaussians_sphere_desc sd = {.count = (uint32_t)sc->gs_points, .radius = sc->gs_radius,
                                    .color = VKD_GAUSSIANS_COLOR_GRAY, .seed = (uint32_t)sc->seed + 1};
    vkd_repr_gaussians_desc rd = {
        .densify = {.grad_threshold = sc->gs_densify_grad, .min_opacity = sc->gs_prune_opacity, .no_size_prune = true},
        .densify_from = (uint32_t)sc->gs_densify_from,
        .densify_until = (uint32_t)sc->gs_densify_until,
        .densify_interval = (uint32_t)sc->gs_densify_every,
        .opacity_reset_interval = sc->gs_opacity_reset_every ? (uint32_t)sc->gs_opacity_reset_every : 0xFFFFFFFFu,
        .load = gd,
    };
    if ((st = vkd_gaussians_init_sphere(g, s, &sd, err)) || (st = vkd_repr_gaussians_create(gpu, g, &rd, out, err))) {
        vkd_gaussians_destroy(g);
        return st;
    }
    return VKD_OK;
}

// ---------------------------------------------------------------------------
// Outputs

typedef struct gen_ctx {
    vkd_gpu* gpu;
    vkd_stream* s;
    vkd_scene sc;
    vkd_repr* repr;
    char out[VKD_SCENE_STR];
    bool quiet;
} gen_ctx;

static const char* ckpt_name(const gen_ctx* g) {
    return strcmp(g->sc.repr, "nerf") ? "checkpoint.safetensors" : "checkpoint-nerf.safetensors";
}

// Renders one camera into an 8-bit image (rgb over the scene background).
static vkd_status render_view(gen_ctx* g, const vkd_camera* cam, vkd_image* img, vkd_error* err) {
    uint32_t W = (uint32_t)cam->width, H = (uint32_t)cam->height;
    vkd_buffer buf = {0};
    float* host = malloc(sizeof(float) * 3 * W * H);
    vkd_status st = host ? vkd_buffer_alloc(g->gpu, sizeof(float) * 3 * W * H, &buf, err)
                         : vkd_error_set(err, VKD_ERR_OUT_OF_MEMORY, "out of host memory");
    if (!st) st = g->repr->vt->render(g->repr, g->s, buf.addr, 0, cam, 1, g->sc.background, err);
    if (!st) st = vkd_stream_submit(g->s, err);
    if (!st) st = vkd_buffer_download(g->gpu, &buf, 0, host, sizeof(float) * 3 * W * H, err);
    if (!st) st = vkd_image_alloc(img, (int)W, (int)H, 3, err);
    if (!st) vkd_image_from_planar(img, host, NULL, NULL);
    if (buf.addr) vkd_buffer_free(g->gpu, &buf);
    free(host);
    return st;
}

static vkd_camera orbit(const vkd_scene* sc, float az, float el, int size) {
    return vkd_camera_orbit(&(vkd_orbit_desc){.azimuth_deg = az, .elevation_deg = el,
                                              .distance = 0.5f * (sc->distance_min + sc->distance_max),
                                              .fov_y_deg = 0.5f * (sc->fov_min + sc->fov_max), .width = size,
                                              .height = size});
}

static vkd_status write_preview(gen_ctx* g, uint32_t step, vkd_error* err) {
    char path[VKD_SCENE_STR + 64];
    vkd_image img = {0};
    vkd_camera cam = orbit(&g->sc, 0, 15, g->sc.width);
    vkd_status st = render_view(g, &cam, &img, err);
    snprintf(path, sizeof path, "%s/preview/step_%06u.png", g->out, step);
    if (!st) st = vkd_png_write(path, &img, err);
    vkd_image_free(&img);
    return st;
}

static vkd_status write_turntable(gen_ctx* g, vkd_error* err) {
    int n = g->sc.turntable_frames;
    if (n <= 0) return VKD_OK;
    char path[VKD_SCENE_STR + 64];
    snprintf(path, sizeof path, "%s/turntable", g->out);
    vkd_status st = make_dir(path, err);
    vkd_image* frames = calloc((size_t)n, sizeof *frames);
    if (!frames) return vkd_error_set(err, VKD_ERR_OUT_OF_MEMORY, "turntable: out of host memory");
    int size = g->sc.width > 128 ? g->sc.width : 128;
    for (int i = 0; i < n && !st; i++) {
        vkd_camera cam = orbit(&g->sc, -180.0f + 360.0f * (float)i / (float)n, 15, size);
        st = render_view(g, &cam, &frames[i], err);
        snprintf(path, sizeof path, "%s/turntable/frame_%03d.png", g->out, i);
        if (!st) st = vkd_png_write(path, &frames[i], err);
    }
    vkd_image sheet = {0};
    uint8_t bg[3] = {255, 255, 255};
    if (!st) st = vkd_image_grid(frames, n, 0, 2, bg, &sheet, err);
    snprintf(path, sizeof path, "%s/turntable.png", g->out);
    if (!st) st = vkd_png_write(path, &sheet, err);
    vkd_image_free(&sheet);
    for (int i = 0; i < n; i++) vkd_image_free(&frames[i]);
    free(frames);
    return st;
}

static vkd_status save_checkpoint(gen_ctx* g, uint32_t step, vkd_error* err) {
    char path[VKD_SCENE_STR + 64], tmp[VKD_SCENE_STR + 80];
    snprintf(path, sizeof path, "%s/%s", g->out, ckpt_name(g));
    vkd_status st = g->repr->vt->save(g->repr, g->s, path, err);
    if (st) return st;
    // The step count the distillation resumes at, written after the checkpoint it belongs to.
    snprintf(path, sizeof path, "%s/checkpoint.step", g->out);
    snprintf(tmp, sizeof tmp, "%s.tmp", path);
    FILE* f = fopen(tmp, "w");
    if (!f || fprintf(f, "%u\n", step) < 0 || fclose(f) || rename(tmp, path))
        return vkd_error_set(err, VKD_ERR_IO, "%s: cannot write: %s", path, strerror(errno));
    return VKD_OK;
}

static vkd_status load_checkpoint(gen_ctx* g, uint32_t* step, vkd_error* err) {
    char path[VKD_SCENE_STR + 64];
    snprintf(path, sizeof path, "%s/checkpoint.step", g->out);
    FILE* f = fopen(path, "r");
    unsigned s = 0;
    if (!f) return vkd_error_set(err, VKD_ERR_IO, "--resume: %s: no checkpoint to resume from (%s)", path, strerror(errno));
    int ok = fscanf(f, "%u", &s) == 1;
    fclose(f);
    if (!ok) return vkd_error_set(err, VKD_ERR_INVALID, "--resume: %s: expected a step number", path);
    snprintf(path, sizeof path, "%s/%s", g->out, ckpt_name(g));
    vkd_status st = g->repr->vt->load(g->repr, g->s, path, err);
    if (st) return vkd_error_prefix(err, "--resume: ");
    *step = s;
    return VKD_OK;
}

static vkd_status write_asset(gen_ctx* g, vkd_error* err) {
    char path[VKD_SCENE_STR + 64];
    if (!strcmp(g->sc.repr, "nerf")) {
        snprintf(path, sizeof path, "%s/nerf.safetensors", g->out);
        return vkd_nerf_save_checkpoint(vkd_repr_nerf_get(g->repr), g->s, path, err);
    }
    snprintf(path, sizeof path, "%s/asset.ply", g->out);
    return vkd_gaussians_save_ply(vkd_repr_gaussians_get(g->repr), g->s, path, err);
}

static void fmt_time(double s, char* buf, size_t n) {
    if (!isfinite(s) || s < 0) s = 0;
    unsigned t = (unsigned)(s + 0.5);
    if (t >= 3600) snprintf(buf, n, "%u:%02u:%02u", t / 3600, t / 60 % 60, t % 60);
    else snprintf(buf, n, "%u:%02u", t / 60, t % 60);
}

// One run of the optimisation loop: on the calling thread, or on a worker thread while the live
// viewer (--view) runs on the main one; feed is NULL without a viewer.
typedef struct gen_run {
    gen_ctx* g;
    vkd_distill* d;
    FILE* log;
    uint32_t step;       // the next step; where the loop stopped on return
    bool quit;           // the viewer asked to stop (Q, Esc, window closed)
    vkd_status st;
    vkd_error err;
    double t0;
} gen_run;

// Hands the viewer what it shows: the Gaussians (or nothing: a NeRF is shown from its
// checkpoints) and the prior-side image, at the feed's snapshot rate.
static vkd_status feed_snapshot(gen_run* r, vkd_viewer_feed* feed, uint32_t step, vkd_error* err) {
    gen_ctx* g = r->g;
    if (!vkd_viewer_feed_wants_snapshot(feed, step)) return VKD_OK;
    vkd_status st = VKD_OK;
    if (strcmp(g->sc.repr, "nerf"))
        st = vkd_viewer_feed_gaussians_from(feed, vkd_repr_gaussians_get(g->repr), g->s, err);
    float* chw = NULL;
    uint32_t w = 0, h = 0;
    if (!st) st = vkd_distill_prior_image(r->d, &chw, &w, &h, err);
    if (!st) st = vkd_viewer_feed_prior_image(feed, chw, 3, (int)h, (int)w, err);
    free(chw);
    return st;
}

// Saves a checkpoint; a NeRF's goes to the viewer too (its snapshot).
static vkd_status checkpoint(gen_run* r, vkd_viewer_feed* feed, uint32_t step, vkd_error* err) {
    vkd_status st = save_checkpoint(r->g, step, err);
    if (!st && feed && !strcmp(r->g->sc.repr, "nerf")) {
        char path[VKD_SCENE_STR + 64];
        snprintf(path, sizeof path, "%s/%s", r->g->out, ckpt_name(r->g));
        vkd_viewer_feed_nerf_checkpoint(feed, step, path);
    }
    return st;
}

static int gen_loop(void* user, vkd_viewer_feed* feed) {
    gen_run* r = user;
    gen_ctx* g = r->g;
    vkd_error* err = &r->err;
    vkd_status st = VKD_OK;
    if (feed) vkd_viewer_feed_set_prompt(feed, g->sc.prompt);
    uint32_t first = r->step, steps = (uint32_t)g->sc.steps;
    bool tty = isatty(2);
    for (; r->step < steps && !interrupted; r->step++) {
        uint32_t step = r->step;
        if (feed && !vkd_viewer_feed_wait_while_paused(feed)) {
            r->quit = true;
            break;
        }
        vkd_distill_step_info info;
        if ((st = vkd_distill_step(r->d, g->s, &info, err))) break;
        fprintf(r->log, "%u,%.6g,%.6g,%.4g,%.4g,%d,%d,%u,%u,%llu,%.4f,%d\n", info.step, info.loss, info.grad_norm,
                info.lambda_mean, info.phi_loss, info.t_min, info.t_max, info.width, info.height,
                (unsigned long long)info.repr_size, info.seconds, info.skipped);
        if (info.skipped)
            fprintf(stderr, "%sstep %u: the gradient had NaN/Inf values: step skipped (%u so far)\n", tty ? "\n" : "",
                    info.step, info.skipped_total);
        uint32_t done_steps = step + 1 - first;
        double el = now_s() - r->t0, rate = done_steps / (el > 0 ? el : 1e-9);
        if (!g->quiet && (tty || done_steps % 50 == 0 || step + 1 == steps)) {
            char eta[32];
            fmt_time((steps - step - 1) / rate, eta, sizeof eta);
            fprintf(stderr, "%sstep %u/%u | loss %.4g | |g| %.3g | t %d-%d | %ux%u | %llu %s | %.2f it/s | ETA %s%s",
                    tty ? "\r" : "", step + 1, steps, info.loss, info.grad_norm, info.t_min, info.t_max, info.width,
                    info.height, (unsigned long long)info.repr_size,
                    strcmp(g->sc.repr, "nerf") ? "gaussians" : "samples", rate, eta, tty ? "\033[K" : "\n");
        }
        if (feed) {
            vkd_viewer_feed_stats(feed, &(vkd_viewer_stats){.step = step + 1, .steps = steps, .loss = info.loss,
                                                            .t = 0.5f * (float)(info.t_min + info.t_max),
                                                            .its = (float)rate});
            if ((st = feed_snapshot(r, feed, step + 1, err))) break;
            uint32_t ev = vkd_viewer_feed_poll(feed);
            if ((ev & VKD_VIEWER_CHECKPOINT) && (st = checkpoint(r, feed, step + 1, err))) break;
            if (ev & VKD_VIEWER_EXPORT) {
                if ((st = vkd_generate_export_mesh(g->gpu, g->s, &g->sc, g->repr, g->out, err))) break;
                if (!g->quiet) fprintf(stderr, "%smesh exported at step %u\n", tty ? "\n" : "", step + 1);
            }
            if (ev & VKD_VIEWER_QUIT) {
                r->quit = true;
                r->step++;
                break;
            }
        }
        if (g->sc.preview_every > 0 && (step + 1) % (uint32_t)g->sc.preview_every == 0 &&
            (st = write_preview(g, step + 1, err)))
            break;
        if (g->sc.checkpoint_every > 0 && (step + 1) % (uint32_t)g->sc.checkpoint_every == 0 &&
            (st = checkpoint(r, feed, step + 1, err)))
            break;
    }
    if (!g->quiet && tty) fprintf(stderr, "\n");
    fflush(r->log);
    r->st = st;
    return st ? 1 : 0;
}

// ---------------------------------------------------------------------------

int vkd_cmd_generate(int argc, char** argv) {
    gen_ctx g = {0};
    vkd_error err = {0};
    vkd_scene_defaults(&g.sc);
    const char* prompt = NULL;
    const char* scene_file = NULL;
    bool resume = false;
    struct {
        bool on, close_when_done;
        int screenshot_after;
        const char* screenshot_path;
    } view = {0};
    bool view_failed = false;
    // Pass 1: the scene file goes under every flag, whatever the order on the command line.
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) {
            usage(stdout);
            return 0;
        }
        if (!strcmp(argv[i], "--scene") && i + 1 < argc) scene_file = argv[++i];
    }
    if (scene_file && vkd_scene_load(&g.sc, scene_file, &err)) {
        fprintf(stderr, "vkdream generate: %s\n", err.msg);
        return 2;
    }
    for (int i = 1; i < argc; i++) {
        const char* a = argv[i];
        if (!strcmp(a, "--scene")) {
            i++;
        } else if (!strcmp(a, "--resume")) {
            resume = true;
        } else if (!strcmp(a, "--quiet")) {
            g.quiet = true;
        } else if (!strcmp(a, "--view")) {
            view.on = true;
        } else if (!strcmp(a, "--view-close")) {
            view.on = view.close_when_done = true;
        } else if (!strcmp(a, "--screenshot-after")) {
            if (i + 2 >= argc || (view.screenshot_after = atoi(argv[i + 1])) < 1) {
                fprintf(stderr, "vkdream generate: --screenshot-after needs a frame count >= 1 and a PNG path\n");
                return 2;
            }
            view.on = true;
            view.screenshot_path = argv[i + 2];
            i += 2;
        } else if (!strncmp(a, "--", 2)) {
            if (i + 1 >= argc) {
                fprintf(stderr, "vkdream generate: %s needs a value\n", a);
                return 2;
            }
            bool known = false;
            if (vkd_scene_set(&g.sc, a + 2, argv[i + 1], &known, &err)) {
                fprintf(stderr, "vkdream generate: %s\n", err.msg);
                return 2;
            }
            if (!known) {
                fprintf(stderr, "vkdream generate: unknown option %s (see vkdream generate --help)\n", a);
                return 2;
            }
            i++;
        } else if (!prompt) {
            prompt = a;
        } else {
            fprintf(stderr, "vkdream generate: one prompt only (quote it): extra argument '%s'\n", a);
            return 2;
        }
    }
    if (prompt) snprintf(g.sc.prompt, sizeof g.sc.prompt, "%s", prompt);
    if (vkd_scene_validate(&g.sc, &err)) {
        fprintf(stderr, "vkdream generate: %s\n", err.msg);
        if (!g.sc.prompt[0]) usage(stderr);
        return 2;
    }
    snprintf(g.out, sizeof g.out, "%s", g.sc.out);

    vkd_distill_desc dd;
    vkd_prior* prior = NULL;
    vkd_distill* d = NULL;
    FILE* log = NULL;
    int rc = 1;
    char path[VKD_SCENE_STR + 64];
    vkd_status st = distill_desc_from_scene(&g.sc, &dd, &err);
    if (!st) st = make_dir(g.out, &err);
    snprintf(path, sizeof path, "%s/preview", g.out);
    if (!st && g.sc.preview_every > 0) st = make_dir(path, &err);
    snprintf(path, sizeof path, "%s/scene.ini", g.out);
    if (!st) st = vkd_scene_write(&g.sc, path, &err);
    if (!st) st = vkd_gpu_create(&(vkd_gpu_desc){0}, &g.gpu, &err);
    if (!st) st = vkd_stream_create(g.gpu, &g.s, &err);
    if (!st) st = make_prior(g.gpu, &g.sc, &prior, &err);
    if (!st) st = make_repr(g.gpu, g.s, &g.sc, &g.repr, &err);
    if (!st) st = vkd_distill_create(g.gpu, prior, g.repr, &dd, &d, &err);
    uint32_t step = 0;
    if (!st && resume) {
        st = load_checkpoint(&g, &step, &err);
        if (!st) vkd_distill_set_step(d, step);
    }
    if (st) {
        fprintf(stderr, "vkdream generate: %s\n", err.msg);
        goto done;
    }
    snprintf(path, sizeof path, "%s/log.csv", g.out);
    log = fopen(path, resume ? "a" : "w");
    if (!log) {
        fprintf(stderr, "vkdream generate: %s: cannot write: %s\n", path, strerror(errno));
        goto done;
    }
    if (!resume) fprintf(log, "step,loss,grad_norm,lambda,phi_loss,t_min,t_max,width,height,size,seconds,skipped\n");
    if (!g.quiet)
        fprintf(stderr, "vkdream generate: \"%s\" with %s on %s, prior %s, %d steps%s -> %s/\n", g.sc.prompt,
                g.sc.method, g.sc.repr, prior->name, g.sc.steps, resume ? " (resumed)" : "", g.out);
    struct sigaction sa = {0};
    sa.sa_handler = on_signal;
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    gen_run run = {.g = &g, .d = d, .log = log, .step = step, .t0 = now_s()};
    if (view.on) {
        vkd_viewer_feed* feed = vkd_viewer_feed_create(NULL);
        vkd_error verr = {0};
        if (!feed) {
            fprintf(stderr, "vkdream generate: out of host memory\n");
            goto done;
        }
        vkd_viewer_run_live(&(vkd_viewer_desc){.title = g.sc.prompt,
                                               .screenshot_after = view.screenshot_after,
                                               .screenshot_path = view.screenshot_path,
                                               .close_when_done = view.close_when_done,
                                               .quiet = g.quiet},
                            feed, gen_loop, &run, &verr);
        vkd_viewer_feed_destroy(feed);
        // A viewer failure was reported on stderr; the loop ran on without it. Validation
        // messages count as failures (the tests run with the layer on).
        if (verr.msg[0] && !run.st) view_failed = true;
    } else {
        gen_loop(&run, NULL);
    }
    step = run.step;
    st = run.st;
    err = run.err;
    if (st || interrupted || run.quit) {
        // Keep what was reached: a checkpoint of the last good state (a failed step never
        // updates the asset) to --resume from.
        vkd_error e2 = {0};
        vkd_status cs = save_checkpoint(&g, step, &e2);
        fprintf(stderr, "vkdream generate: %s at step %u; %s\n",
                st ? err.msg : interrupted ? "interrupted" : "stopped from the viewer", step,
                cs ? e2.msg : "checkpoint saved: continue with --resume");
        rc = st || cs ? 1 : interrupted ? 130 : view_failed ? 1 : 0;
        goto done;
    }
    if ((st = save_checkpoint(&g, step, &err)) || (st = write_asset(&g, &err)) || (st = write_turntable(&g, &err)) ||
        (st = vkd_generate_export_mesh(g.gpu, g.s, &g.sc, g.repr, g.out, &err))) {
        fprintf(stderr, "vkdream generate: %s\n", err.msg);
        goto done;
    }
    if (!g.quiet) fprintf(stderr, "vkdream generate: done in %.1f s -> %s/\n", now_s() - run.t0, g.out);
    rc = view_failed ? 1 : 0;
done:
    if (log) fclose(log);
    vkd_distill_destroy(d);
    if (g.repr) vkd_repr_destroy(g.repr);
    if (prior) vkd_prior_destroy(prior);
    if (g.s) vkd_stream_destroy(g.s);
    if (g.gpu) vkd_gpu_destroy(g.gpu);
    return rc;
}
