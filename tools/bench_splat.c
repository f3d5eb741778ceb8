// bench_splat: forward and backward time of the Gaussian splatting renderer on a random cloud,
// as a table over Gaussian counts and image sizes (not a test).
//   bench_splat [--n N]... [--size PIXELS]... [--views 1] [--deg 3] [--iters 10] [--budget-ms 8000]
//               [--scale 0.03] [--spread 0.5] [--normals] [--device NAME]
// Without --n / --size: 10k and 100k Gaussians at 256^2 and 512^2, plus 1M at both sizes when
// the device is not a CPU (lavapipe would take minutes). Columns:
//   fwd ms, bwd ms   wall clock per call (the forward includes its one read-back, the list length)
//   sort ms, sort %  the radix sort's kernels (nn_sort_* and the copy of its result) from the
//                    per-kernel timestamps, and their share of all GPU kernel time of fwd + bwd
//   Gauss/s          Gaussians per second of a training step: N / (fwd + bwd)
//   MiB              device memory of the step: parameters, gradients, statistics, images,
//                    cotangents and the renderer's scratch at its high-water mark
// Each row warms up once (pipelines, scratch buffers), then times up to --iters calls within
// about --budget-ms. Timestamps are on for the whole run; the per-kernel table of the last row
// is printed to stderr at exit.
#define _POSIX_C_SOURCE 200809L
#include "vkdream/splat.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static uint64_t rng = 0x9E3779B97F4A7C15ull;

static double uniform(double lo, double hi) {
    uint64_t z = (rng += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    z ^= z >> 31;
    return lo + (hi - lo) * ((double)(z >> 11) * (1.0 / 9007199254740992.0));
}

static double normal(void) {
    double u1 = uniform(1e-12, 1.0), u2 = uniform(0.0, 1.0);
    return sqrt(-2.0 * log(u1)) * cos(6.283185307179586 * u2);
}

static double now_ms(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1e3 + ts.tv_nsec * 1e-6;
}

static int fail(const char* what, const vkd_error* e) {
    fprintf(stderr, "bench_splat: %s: %s\n", what, e->msg);
    return 1;
}

typedef struct scene_opts {
    double spread, scale;
} scene_opts;

static double gen_mean(void* u, size_t i) { (void)i; return ((scene_opts*)u)->spread * normal(); }
static double gen_log_scale(void* u, size_t i) {
    (void)i;
    double s = ((scene_opts*)u)->scale;
    return log(uniform(0.3 * s, 1.7 * s));
}
static double gen_normal(void* u, size_t i) { (void)u, (void)i; return normal(); }
static double gen_logit(void* u, size_t i) { (void)u, (void)i; return uniform(-2.0, 3.0); }
static double gen_sh(void* u, size_t i) { (void)u, (void)i; return 0.3 * normal(); }
static double gen_cot(void* u, size_t i) { (void)u, (void)i; return 1e-3 * normal(); }

// Device buffers of one benchmark row, freed together.
enum { MAX_BUFS = 24 };
typedef struct row_bufs {
    vkd_gpu* gpu;
    vkd_buffer b[MAX_BUFS];
    int count;
    uint64_t bytes;
} row_bufs;

// A device buffer filled with `count` floats from fn (or zeros); its address, 0 on failure.
static vkd_addr make(row_bufs* r, size_t count, double (*fn)(void* u, size_t i), void* u, vkd_error* e) {
    if (r->count == MAX_BUFS) return vkd_error_set(e, VKD_ERR_INVALID, "too many buffers"), 0;
    float* h = malloc((count ? count : 1) * sizeof *h);
    if (!h) return vkd_error_set(e, VKD_ERR_OUT_OF_MEMORY, "out of host memory"), 0;
    for (size_t i = 0; i < count; i++) h[i] = fn ? (float)fn(u, i) : 0.0f;
    vkd_buffer* b = &r->b[r->count];
    vkd_status st = vkd_buffer_alloc(r->gpu, (count ? count : 1) * sizeof *h, b, e);
    if (!st) st = vkd_buffer_upload(r->gpu, b, 0, h, count * sizeof *h, e);
    free(h);
    if (st) return 0;
    r->count++;
    r->bytes += count * sizeof(float);
    return b->addr;
}

static void bufs_free(row_bufs* r) {
    for (int k = 0; k < r->count; k++) vkd_buffer_free(r->gpu, &r->b[k]);
    r->count = 0;
}

typedef struct row_result {
    double fwd_ms, bwd_ms, sort_ms, kernel_ms;
    uint64_t bytes, pairs;
    uint32_t iters;
} row_result;

// Kernel time of the profile table since the last reset: all kernels, and the radix sort's.
static void profile_totals(vkd_gpu* gpu, double* total_ms, double* sort_ms) {
    *total_ms = *sort_ms = 0;
    FILE* f = tmpfile();
    if (!f) return;
    vkd_gpu_profile_print(gpu, f);
    rewind(f);
    char line[512], name[128];
    unsigned long long calls;
    double ms;
    while (fgets(line, sizeof line, f))
        if (sscanf(line, "%127s %llu %lf", name, &calls, &ms) == 3) {
            *total_ms += ms;
            // The step's only buffer copies are the sort's result copies (odd pass counts).
            if (!strncmp(name, "nn_sort", 7) || !strcmp(name, "gpu_copy")) *sort_ms += ms;
        }
    fclose(f);
}

typedef struct bench_opts {
    uint32_t views, iters;
    int deg;
    double budget_ms;
    bool normals;
    scene_opts scene;
} bench_opts;

static int run_row(vkd_gpu* gpu, vkd_stream* s, uint32_t n, uint32_t size, const bench_opts* o, row_result* res) {
    vkd_error e = {0};
    vkd_splat_ctx* ctx = NULL;
    if (vkd_splat_ctx_create(gpu, NULL, &ctx, &e)) return fail("render context", &e);
    row_bufs r = {.gpu = gpu};
    rng = 0x9E3779B97F4A7C15ull ^ n;  // the same cloud for a count, whatever the rows before
    uint32_t K = (uint32_t)((o->deg + 1) * (o->deg + 1)), views = o->views;
    size_t px = (size_t)views * size * size;
    scene_opts so = o->scene;
    vkd_splat_params p = {.count = n, .sh_degree = o->deg};
    vkd_splat_grads g = {0};
    vkd_splat_densify_stats stats = {0};
    vkd_splat_outputs out = {0}, dout = {0};
    int bad = !(p.means = make(&r, 3 * (size_t)n, gen_mean, &so, &e)) ||
              !(p.log_scales = make(&r, 3 * (size_t)n, gen_log_scale, &so, &e)) ||
              !(p.quats = make(&r, 4 * (size_t)n, gen_normal, NULL, &e)) ||
              !(p.opacity_logits = make(&r, n, gen_logit, NULL, &e)) ||
              !(p.sh = make(&r, (size_t)n * K * 3, gen_sh, NULL, &e)) ||
              !(g.means = make(&r, 3 * (size_t)n, NULL, NULL, &e)) ||
              !(g.log_scales = make(&r, 3 * (size_t)n, NULL, NULL, &e)) ||
              !(g.quats = make(&r, 4 * (size_t)n, NULL, NULL, &e)) ||
              !(g.opacity_logits = make(&r, n, NULL, NULL, &e)) ||
              !(g.sh = make(&r, (size_t)n * K * 3, NULL, NULL, &e)) ||
              !(stats.grad2d_norm = make(&r, n, NULL, NULL, &e)) || !(stats.vis_count = make(&r, n, NULL, NULL, &e)) ||
              !(stats.max_radius = make(&r, n, NULL, NULL, &e)) || !(out.rgb = make(&r, 3 * px, NULL, NULL, &e)) ||
              !(out.alpha = make(&r, px, NULL, NULL, &e)) || !(out.depth = make(&r, px, NULL, NULL, &e)) ||
              !(dout.rgb = make(&r, 3 * px, gen_cot, NULL, &e)) || !(dout.alpha = make(&r, px, gen_cot, NULL, &e)) ||
              !(dout.depth = make(&r, px, gen_cot, NULL, &e));
    if (!bad && o->normals)
        bad = !(out.normal = make(&r, 3 * px, NULL, NULL, &e)) || !(dout.normal = make(&r, 3 * px, gen_cot, NULL, &e));
    if (bad) {
        bufs_free(&r);
        vkd_splat_ctx_destroy(ctx);
        return fail("buffers", &e);
    }
    vkd_camera* cams = calloc(views, sizeof *cams);
    for (uint32_t b = 0; b < views; b++)
        cams[b] = vkd_camera_orbit(&(vkd_orbit_desc){.azimuth_deg = 360.0f * b / views, .elevation_deg = 15,
                                                     .width = (int32_t)size, .height = (int32_t)size});
    const float bg[3] = {1, 1, 1};
    memset(res, 0, sizeof *res);
    int rc = 0;
    uint32_t iters = o->iters;
    for (uint32_t it = 0; it <= iters && !rc; it++) {  // iteration 0 warms up
        if (it == 1) vkd_gpu_profile_reset(gpu);
        double t0 = now_ms();
        if (vkd_splat_forward(ctx, s, &out, &p, cams, (int)views, bg, &e) || vkd_stream_submit(s, &e)) {
            rc = fail("forward", &e);
            break;
        }
        double t1 = now_ms();
        if (vkd_splat_backward(ctx, s, &g, &stats, &dout, &p, cams, (int)views, &e) || vkd_stream_submit(s, &e)) {
            rc = fail("backward", &e);
            break;
        }
        double t2 = now_ms();
        if (it) {
            res->fwd_ms += t1 - t0, res->bwd_ms += t2 - t1;
        } else {
            // Fit the timed calls into the budget (at least 2).
            double per = t2 - t0;
            uint32_t fit = per > 0 ? (uint32_t)(o->budget_ms / per) : iters;
            if (fit < 2) fit = 2;
            if (fit < iters) iters = fit;
        }
    }
    if (!rc) {
        res->iters = iters;
        res->fwd_ms /= iters, res->bwd_ms /= iters;
        profile_totals(gpu, &res->kernel_ms, &res->sort_ms);
        res->kernel_ms /= iters, res->sort_ms /= iters;
        vkd_splat_stats st;
        vkd_splat_ctx_stats(ctx, &st);
        res->pairs = st.intersections;
        res->bytes = r.bytes + vkd_splat_ctx_bytes(ctx);
    }
    free(cams);
    bufs_free(&r);
    vkd_splat_ctx_destroy(ctx);
    return rc;
}

static void usage(void) {
    fprintf(stderr,
            "usage: bench_splat [--n N]... [--size PIXELS]... [--views B] [--deg 0..3] [--iters I] [--budget-ms T] "
            "[--scale S] [--spread R] [--normals] [--device NAME]\n");
}

int main(int argc, char** argv) {
    enum { MAX_LIST = 8 };
    uint32_t ns[MAX_LIST], sizes[MAX_LIST];
    int nn = 0, nsz = 0;
    bench_opts o = {.views = 1, .iters = 10, .deg = 3, .budget_ms = 8000, .scene = {.spread = 0.5, .scale = 0.03}};
    const char* device = NULL;
    for (int a = 1; a < argc; a++) {
        const char* v = a + 1 < argc ? argv[a + 1] : NULL;
        if (!strcmp(argv[a], "--n") && v && nn < MAX_LIST) ns[nn++] = (uint32_t)strtoul(v, NULL, 10), a++;
        else if (!strcmp(argv[a], "--size") && v && nsz < MAX_LIST) sizes[nsz++] = (uint32_t)strtoul(v, NULL, 10), a++;
        else if (!strcmp(argv[a], "--views") && v) o.views = (uint32_t)strtoul(v, NULL, 10), a++;
        else if (!strcmp(argv[a], "--deg") && v) o.deg = atoi(v), a++;
        else if (!strcmp(argv[a], "--iters") && v) o.iters = (uint32_t)strtoul(v, NULL, 10), a++;
        else if (!strcmp(argv[a], "--budget-ms") && v) o.budget_ms = atof(v), a++;
        else if (!strcmp(argv[a], "--scale") && v) o.scene.scale = atof(v), a++;
        else if (!strcmp(argv[a], "--spread") && v) o.scene.spread = atof(v), a++;
        else if (!strcmp(argv[a], "--normals")) o.normals = true;
        else if (!strcmp(argv[a], "--device") && v) device = v, a++;
        else {
            usage();
            return 2;
        }
    }
    if (!o.views || !o.iters || o.deg < 0 || o.deg > 3) {
        usage();
        return 2;
    }
    for (int k = 0; k < nn; k++)
        if (!ns[k]) return usage(), 2;
    for (int k = 0; k < nsz; k++)
        if (!sizes[k]) return usage(), 2;
    vkd_error e = {0};
    vkd_gpu* gpu = NULL;
    vkd_stream* s = NULL;
    if (vkd_gpu_create(&(vkd_gpu_desc){.device = device, .profile = true}, &gpu, &e)) return fail("device", &e);
    if (vkd_stream_create(gpu, &s, &e)) return fail("stream", &e);
    const vkd_gpu_info* info = vkd_gpu_get_info(gpu);
    bool cpu = info->kind == VKD_DEVICE_CPU, default_rows = !nn;
    if (!nn) {
        ns[nn++] = 10000, ns[nn++] = 100000;
        if (!cpu) ns[nn++] = 1000000;
    }
    if (!nsz) sizes[nsz++] = 256, sizes[nsz++] = 512;
    printf("device %s (%s)\n", info->name, vkd_device_kind_name(info->kind));
    printf("random cloud: means ~ N(0, %.2g^2), scales ~ U(0.3, 1.7) x %.3g, SH degree %d, %u view(s), outputs "
           "rgb+alpha+depth%s, cotangents on all of them\n",
           o.scene.spread, o.scene.scale, o.deg, o.views, o.normals ? "+normal" : "");
    printf("%9s %7s %9s %9s %9s %7s %11s %8s %10s %5s\n", "Gaussians", "image", "fwd ms", "bwd ms", "sort ms",
           "sort %", "Gauss/s", "MiB", "pairs", "iters");
    int rc = 0;
    for (int i = 0; i < nn && !rc; i++)
        for (int k = 0; k < nsz && !rc; k++) {
            row_result r;
            rc = run_row(gpu, s, ns[i], sizes[k], &o, &r);
            if (rc) break;
            double step_s = (r.fwd_ms + r.bwd_ms) * 1e-3;
            char img[32];
            snprintf(img, sizeof img, "%u^2", sizes[k]);
            printf("%9u %7s %9.2f %9.2f %9.2f %6.1f%% %11.3g %8.1f %10llu %5u\n", ns[i], img, r.fwd_ms, r.bwd_ms,
                   r.sort_ms, r.kernel_ms > 0 ? 100.0 * r.sort_ms / r.kernel_ms : 0.0,
                   step_s > 0 ? ns[i] / step_s : 0.0, (double)r.bytes / (1 << 20), (unsigned long long)r.pairs,
                   r.iters);
            fflush(stdout);
        }
    if (cpu && default_rows)
        printf("(1M Gaussians skipped on a CPU device; pass --n 1000000 to run it anyway)\n");
    vkd_stream_destroy(s);
    vkd_gpu_destroy(gpu);
    return rc;
}
