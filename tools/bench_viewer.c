// bench_viewer: what the viewer costs.
//   bench_viewer frame [--n 5000] [--width 960] [--height 720] [--scale 1] [--mode 1] [--frames 20] [--text 1]
//       median time of one preview frame (render + compose + overlay, no window) of n Gaussians
//   bench_viewer live [--n 5000] [--size 128] [--steps 300] [--rounds 3] [--every 50] [--busy 0.05]
//       a stand-in optimisation loop (3DGS fit step: splat forward + backward + Adam at size^2,
//       snapshots handed to the viewer every `every` steps) timed alone and with the live viewer
//       (needs a display, e.g. xvfb-run), alternating, `rounds` times each: the slowdown
// The two contexts (loop and viewer) share the machine, as they would in `generate --view`.
#define _POSIX_C_SOURCE 200809L
#include "app/view_internal.h"
#include "app/viewer.h"

#include "vkdream/splat.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static double now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static int cmp_double(const void* a, const void* b) {
    double x = *(const double*)a, y = *(const double*)b;
    return x < y ? -1 : x > y;
}

static double median(double* v, int n) {
    qsort(v, (size_t)n, sizeof *v, cmp_double);
    return n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
}

static int fail(const char* what, const vkd_error* e) {
    fprintf(stderr, "bench_viewer: %s: %s\n", what, e->msg);
    return 1;
}

typedef struct opts {
    uint32_t n;
    int width, height, mode, frames, size, steps, rounds, every, text;
    float scale, busy;
} opts;

// A sphere of n Gaussians as the model's initialisation would make it (random colors).
static vkd_status make_gaussians(vkd_gpu* gpu, vkd_stream* s, uint32_t n, vkd_gaussians** out, vkd_error* err) {
    vkd_status st = vkd_gaussians_create(gpu, &(vkd_gaussians_desc){.capacity = n}, out, err);
    if (!st)
        st = vkd_gaussians_init_sphere(*out, s,
                                       &(vkd_gaussians_sphere_desc){.count = n, .radius = 0.5f,
                                                                    .color = VKD_GAUSSIANS_COLOR_RANDOM,
                                                                    .opacity = 0.5f, .seed = 7},
                                       err);
    return st;
}

static int bench_frame(const opts* o) {
    vkd_error e = {0};
    vkd_gpu* gpu = NULL;
    vkd_stream* s = NULL;
    vkd_gaussians* g = NULL;
    vkd_view_renderer* r = NULL;
    vkd_view_asset a = {.kind = VKD_VIEW_GAUSSIANS};
    if (vkd_gpu_create(NULL, &gpu, &e) || vkd_stream_create(gpu, &s, &e) || make_gaussians(gpu, s, o->n, &g, &e) ||
        vkd_gaussians_download(g, s, VKD_GAUSSIANS_PARAMS, &a.gaussians, &e) ||
        vkd_view_renderer_create(gpu, &r, &e))
        return fail("setup", &e);
    float center[3], radius;
    if (vkd_view_renderer_set_asset(r, &a, center, &radius, &e)) return fail("asset", &e);
    vkd_view_orbit orbit = {.fov_y_deg = 40};
    vkd_view_orbit_frame(&orbit, center, radius);
    const char* text = "asset.ply  3DGS  5000 Gaussians  SH 0\nmode 1 RGB  30.0 fps  10.0 ms\n"
                       "\vdrag rotate  right-drag pan  wheel zoom  R reset  A auto-rotate  H overlay";
    double* t = malloc((size_t)o->frames * sizeof *t);
    for (int i = -2; i < o->frames; i++) {  // two warm-up frames build the pipelines
        orbit.azimuth_deg += 3.0f;
        vkd_camera cam = vkd_view_orbit_camera(&orbit, o->width, o->height);
        vkd_view_frame_desc fd = {.width = o->width, .height = o->height, .render_scale = o->scale,
                                  .mode = o->mode, .text = o->text ? text : NULL};
        double t0 = now_s();
        if (vkd_view_renderer_render(r, &cam, &fd, &e)) return fail("render", &e);
        if (i >= 0) t[i] = now_s() - t0;
    }
    char scale[32];
    if (o->scale > 0) snprintf(scale, sizeof scale, "%.2g", (double)o->scale);
    else snprintf(scale, sizeof scale, "auto: %.2g", vkd_gpu_get_info(gpu)->kind == VKD_DEVICE_CPU ? 0.5 : 1.0);
    printf("preview frame: %u Gaussians, %dx%d (render scale %s), mode %d: median %.1f ms over %d frames "
           "on %s\n",
           o->n, o->width, o->height, scale, o->mode + 1, 1e3 * median(t, o->frames),
           o->frames, vkd_gpu_get_info(gpu)->name);
    free(t);
    vkd_gaussians_host_free(&a.gaussians);
    vkd_view_renderer_destroy(r);
    vkd_gaussians_destroy(g);
    vkd_stream_destroy(s);
    vkd_gpu_destroy(gpu);
    return 0;
}

// ---------------------------------------------------------------------------
// The stand-in optimisation loop

typedef struct loop_ctx {
    const opts* o;
    double seconds;      // wall time of the steps
    uint32_t snapshots;
    int failed;
    vkd_error err;
} loop_ctx;

static int fit_loop(void* user, vkd_viewer_feed* feed) {
    loop_ctx* c = user;
    const opts* o = c->o;
    vkd_error* e = &c->err;
    vkd_gpu* gpu = NULL;
    vkd_stream* s = NULL;
    vkd_gaussians* g = NULL;
    vkd_splat_ctx* ctx = NULL;
    vkd_buffer rgb = {0}, drgb = {0};
    size_t px = (size_t)o->size * o->size;
    if (vkd_gpu_create(NULL, &gpu, e) || vkd_stream_create(gpu, &s, e) || make_gaussians(gpu, s, o->n, &g, e) ||
        vkd_splat_ctx_create(gpu, NULL, &ctx, e) || vkd_buffer_alloc(gpu, 3 * px * 4, &rgb, e) ||
        vkd_buffer_alloc(gpu, 3 * px * 4, &drgb, e)) {
        c->failed = 1;
        return 1;
    }
    vkd_stream_fill(s, drgb.addr, (uint32_t)(3 * px), 0x3c23d70au);  // a fixed cotangent (0.01)
    vkd_viewer_feed_set_prompt(feed, "bench: a sphere of Gaussians");
    double t0 = 0;
    for (int step = 0; step <= o->steps; step++) {
        if (step == 1) t0 = now_s();  // step 0 builds the pipelines
        if (!vkd_viewer_feed_wait_while_paused(feed)) break;
        vkd_camera cam = vkd_camera_orbit(&(vkd_orbit_desc){.azimuth_deg = 37.0f * step, .elevation_deg = 15,
                                                            .distance = 2.5f, .width = o->size, .height = o->size});
        vkd_splat_params p;
        vkd_splat_grads gr;
        vkd_splat_densify_stats stats;
        vkd_gaussians_params(g, &p);
        vkd_gaussians_grads(g, &gr);
        vkd_gaussians_stats(g, &stats);
        vkd_splat_outputs out = {.rgb = rgb.addr}, dout = {.rgb = drgb.addr};
        if (vkd_splat_forward(ctx, s, &out, &p, &cam, 1, NULL, e) ||
            vkd_splat_backward(ctx, s, &gr, &stats, &dout, &p, &cam, 1, e)) {
            c->failed = 1;
            break;
        }
        vkd_gaussians_step(g, s);
        vkd_gaussians_zero_grad(g, s);
        if (vkd_stream_submit(s, e)) {
            c->failed = 1;
            break;
        }
        double el = step ? now_s() - t0 : 0;
        vkd_viewer_feed_stats(feed, &(vkd_viewer_stats){.step = (uint32_t)step, .steps = (uint32_t)o->steps,
                                                        .loss = 1.0f, .its = el > 0 ? (float)(step / el) : 0});
        if (vkd_viewer_feed_wants_snapshot(feed, (uint32_t)step)) {
            if (vkd_viewer_feed_gaussians_from(feed, g, s, e)) {
                c->failed = 1;
                break;
            }
            c->snapshots++;
        }
        if (vkd_viewer_feed_poll(feed) & VKD_VIEWER_QUIT) break;
    }
    c->seconds = now_s() - t0;
    vkd_buffer_free(gpu, &rgb);
    vkd_buffer_free(gpu, &drgb);
    vkd_splat_ctx_destroy(ctx);
    vkd_gaussians_destroy(g);
    vkd_stream_destroy(s);
    vkd_gpu_destroy(gpu);
    return c->failed;
}

typedef struct frame_stats {
    int frames;
    double busy_s;
} frame_stats;

static void count_frame(void* user, void* window, int frames, double busy_s) {
    (void)window;
    frame_stats* f = user;
    f->frames = frames;
    f->busy_s += busy_s;
}

static int bench_live(const opts* o) {
    char why[256];
    if (!vkd_viewer_display_available(why, sizeof why)) {
        fprintf(stderr, "bench_viewer live: %s (run it under xvfb-run or on a desktop)\n", why);
        return 1;
    }
    double alone[16], viewed[16], ratio[16], duty[16];
    uint32_t snaps = 0;
    int frames = 0;
    for (int r = 0; r < o->rounds; r++) {
        for (int with = 0; with < 2; with++) {
            vkd_viewer_feed* feed = vkd_viewer_feed_create(&(vkd_viewer_feed_desc){.snapshot_every = (uint32_t)o->every});
            loop_ctx c = {.o = o};
            vkd_error e = {0};
            if (with) {
                frame_stats fs = {0};
                vkd_viewer_desc d = {.title = "bench_viewer", .close_when_done = true, .quiet = true,
                                     .max_busy = o->busy, .render_scale = o->scale, .on_frame = count_frame,
                                     .on_frame_user = &fs};
                vkd_viewer_run_live(&d, feed, fit_loop, &c, &e);
                if (e.status) return fail("viewer", &e);
                snaps = c.snapshots;
                frames = fs.frames;
                duty[r] = fs.busy_s / c.seconds;
            } else {
                fit_loop(&c, feed);  // no viewer attached: what the loop costs by itself
            }
            vkd_viewer_feed_destroy(feed);
            if (c.failed) return fail("loop", &c.err);
            double its = o->steps / c.seconds;
            (with ? viewed : alone)[r] = its;
            if (with) ratio[r] = viewed[r] / alone[r];
            if (with)
                printf("round %d with viewer %.2f it/s (%d frames, viewer busy %.1f%% of the time)\n", r + 1, its,
                       frames, 100 * duty[r]);
            else
                printf("round %d alone       %.2f it/s\n", r + 1, its);
            fflush(stdout);
        }
    }
    double a = median(alone, o->rounds), v = median(viewed, o->rounds), q = median(ratio, o->rounds);
    printf("fit step (%u Gaussians, %dx%d, forward + backward + Adam): %.2f it/s alone, %.2f it/s with the viewer "
           "(snapshot every %d steps, busy cap %.0f%%, measured busy %.1f%%): median paired slowdown %.1f%%\n",
           o->n, o->size, o->size, a, v, o->every, 100.0 * (o->busy > 0 ? o->busy : 0.05),
           100 * median(duty, o->rounds), 100.0 * (1.0 - q));
    (void)snaps;
    return 0;
}

int main(int argc, char** argv) {
    opts o = {.n = 5000, .width = 960, .height = 720, .frames = 20, .size = 128, .steps = 300, .rounds = 3, .every = 50,
              .text = 1};
    if (argc < 2 || (strcmp(argv[1], "frame") && strcmp(argv[1], "live"))) {
        fprintf(stderr, "usage: bench_viewer frame|live [options] (see the top of tools/bench_viewer.c)\n");
        return 2;
    }
    for (int i = 2; i + 1 < argc; i += 2) {
        const char* k = argv[i];
        double v = atof(argv[i + 1]);
        if (!strcmp(k, "--n")) o.n = (uint32_t)v;
        else if (!strcmp(k, "--width")) o.width = (int)v;
        else if (!strcmp(k, "--height")) o.height = (int)v;
        else if (!strcmp(k, "--scale")) o.scale = (float)v;
        else if (!strcmp(k, "--mode")) o.mode = (int)v - 1;
        else if (!strcmp(k, "--frames")) o.frames = (int)v;
        else if (!strcmp(k, "--size")) o.size = (int)v;
        else if (!strcmp(k, "--steps")) o.steps = (int)v;
        else if (!strcmp(k, "--rounds")) o.rounds = (int)v < 16 ? (int)v : 16;
        else if (!strcmp(k, "--every")) o.every = (int)v;
        else if (!strcmp(k, "--busy")) o.busy = (float)v;
        else if (!strcmp(k, "--text")) o.text = (int)v;
        else {
            fprintf(stderr, "bench_viewer: unknown option %s\n", k);
            return 2;
        }
    }
    if (o.mode < 0 || o.mode >= VIEW_MODE_COUNT || o.frames < 1 || o.rounds < 1 || o.steps < 1) {
        fprintf(stderr, "bench_viewer: bad option value\n");
        return 2;
    }
    return !strcmp(argv[1], "frame") ? bench_frame(&o) : bench_live(&o);
}
