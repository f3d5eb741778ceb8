// bench_splat: forward and backward time of the Gaussian splatting renderer on a random cloud.
//   bench_splat [--n 10000] [--size 256] [--views 1] [--deg 3] [--iters 10] [--scale 0.03] [--device NAME]
// Wall-clock times per call include the forward's one read-back (the list length). With
// VKD_PROFILE=1 the per-kernel table (the radix sort's passes included, warm-up excluded) is
// printed to stderr at the end.
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

// A device buffer filled with `count` floats from fn (or zeros).
static int upload(vkd_gpu* gpu, vkd_buffer* b, size_t count, double (*fn)(void* u, size_t i), void* u, vkd_error* e) {
    float* h = malloc((count ? count : 1) * sizeof *h);
    if (!h) return vkd_error_set(e, VKD_ERR_OUT_OF_MEMORY, "out of host memory");
    for (size_t i = 0; i < count; i++) h[i] = fn ? (float)fn(u, i) : 0.0f;
    int st = vkd_buffer_alloc(gpu, (count ? count : 1) * sizeof *h, b, e);
    if (!st) st = vkd_buffer_upload(gpu, b, 0, h, count * sizeof *h, e);
    free(h);
    return st;
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

int main(int argc, char** argv) {
    uint32_t n = 10000, size = 256, views = 1, iters = 10;
    int deg = 3;
    scene_opts so = {.spread = 0.5, .scale = 0.03};
    const char* device = NULL;
    for (int a = 1; a < argc; a++) {
        const char* v = a + 1 < argc ? argv[a + 1] : NULL;
        if (!strcmp(argv[a], "--n") && v) n = (uint32_t)strtoul(v, NULL, 10), a++;
        else if (!strcmp(argv[a], "--size") && v) size = (uint32_t)strtoul(v, NULL, 10), a++;
        else if (!strcmp(argv[a], "--views") && v) views = (uint32_t)strtoul(v, NULL, 10), a++;
        else if (!strcmp(argv[a], "--deg") && v) deg = atoi(v), a++;
        else if (!strcmp(argv[a], "--iters") && v) iters = (uint32_t)strtoul(v, NULL, 10), a++;
        else if (!strcmp(argv[a], "--scale") && v) so.scale = atof(v), a++;
        else if (!strcmp(argv[a], "--spread") && v) so.spread = atof(v), a++;
        else if (!strcmp(argv[a], "--device") && v) device = v, a++;
        else {
            fprintf(stderr,
                    "usage: bench_splat [--n N] [--size PIXELS] [--views B] [--deg 0..3] [--iters I] [--scale S] "
                    "[--spread R] [--device NAME]\n");
            return 2;
        }
    }
    if (!views || !iters || !size || deg < 0 || deg > 3) return fail("arguments", &(vkd_error){.msg = "out of range"});
    vkd_error e = {0};
    vkd_gpu* gpu = NULL;
    vkd_stream* s = NULL;
    vkd_splat_ctx* ctx = NULL;
    if (vkd_gpu_create(&(vkd_gpu_desc){.device = device}, &gpu, &e)) return fail("device", &e);
    if (vkd_stream_create(gpu, &s, &e) || vkd_splat_ctx_create(gpu, NULL, &ctx, &e)) return fail("setup", &e);
    uint32_t K = (uint32_t)((deg + 1) * (deg + 1));
    size_t px = (size_t)views * size * size;
    vkd_buffer means, log_scales, quats, logits, sh, g[5], rgb, alpha, depth, d_rgb, d_alpha, d_depth, g2n, vis;
    if (upload(gpu, &means, 3 * (size_t)n, gen_mean, &so, &e) ||
        upload(gpu, &log_scales, 3 * (size_t)n, gen_log_scale, &so, &e) ||
        upload(gpu, &quats, 4 * (size_t)n, gen_normal, NULL, &e) || upload(gpu, &logits, n, gen_logit, NULL, &e) ||
        upload(gpu, &sh, (size_t)n * K * 3, gen_sh, NULL, &e) || upload(gpu, &g[0], 3 * (size_t)n, NULL, NULL, &e) ||
        upload(gpu, &g[1], 3 * (size_t)n, NULL, NULL, &e) || upload(gpu, &g[2], 4 * (size_t)n, NULL, NULL, &e) ||
        upload(gpu, &g[3], n, NULL, NULL, &e) || upload(gpu, &g[4], (size_t)n * K * 3, NULL, NULL, &e) ||
        upload(gpu, &rgb, 3 * px, NULL, NULL, &e) || upload(gpu, &alpha, px, NULL, NULL, &e) ||
        upload(gpu, &depth, px, NULL, NULL, &e) || upload(gpu, &d_rgb, 3 * px, gen_cot, NULL, &e) ||
        upload(gpu, &d_alpha, px, gen_cot, NULL, &e) || upload(gpu, &d_depth, px, gen_cot, NULL, &e) ||
        upload(gpu, &g2n, n, NULL, NULL, &e) || upload(gpu, &vis, n, NULL, NULL, &e))
        return fail("buffers", &e);
    vkd_camera* cams = calloc(views, sizeof *cams);
    for (uint32_t b = 0; b < views; b++)
        cams[b] = vkd_camera_orbit(&(vkd_orbit_desc){.azimuth_deg = 360.0f * b / views, .elevation_deg = 15,
                                                     .width = (int32_t)size, .height = (int32_t)size});
    vkd_splat_params p = {.means = means.addr, .log_scales = log_scales.addr, .quats = quats.addr,
                          .opacity_logits = logits.addr, .sh = sh.addr, .count = n, .sh_degree = deg};
    vkd_splat_grads gr = {g[0].addr, g[1].addr, g[2].addr, g[3].addr, g[4].addr};
    vkd_splat_outputs out = {rgb.addr, alpha.addr, depth.addr}, dout = {d_rgb.addr, d_alpha.addr, d_depth.addr};
    const float bg[3] = {1, 1, 1};
    double t_fwd = 0, t_bwd = 0;
    for (uint32_t it = 0; it <= iters; it++) {  // iteration 0 warms up (pipelines, scratch buffers)
        if (it == 1) vkd_gpu_profile_reset(gpu);
        double t0 = now_ms();
        if (vkd_splat_forward(ctx, s, &out, &p, cams, (int)views, bg, &e) || vkd_stream_submit(s, &e))
            return fail("forward", &e);
        double t1 = now_ms();
        if (vkd_splat_backward(ctx, s, &gr, g2n.addr, vis.addr, &dout, &p, cams, (int)views, &e) ||
            vkd_stream_submit(s, &e))
            return fail("backward", &e);
        double t2 = now_ms();
        if (it) t_fwd += t1 - t0, t_bwd += t2 - t1;
    }
    vkd_splat_stats st;
    vkd_splat_ctx_stats(ctx, &st);
    printf("device %s\n", vkd_gpu_get_info(gpu)->name);
    printf("%u Gaussians (SH degree %d), %u view(s) of %ux%u: %llu Gaussian-tile pairs (%.1f per visible pair), "
           "sort on %u key bits\n",
           n, deg, views, size, size, (unsigned long long)st.intersections,
           (double)st.intersections / ((double)n * views), st.key_bits);
    printf("forward  %8.2f ms/call\nbackward %8.2f ms/call\nscratch  %8.1f MiB\n", t_fwd / iters, t_bwd / iters,
           (double)vkd_splat_ctx_bytes(ctx) / (1 << 20));
    vkd_buffer* all[] = {&means, &log_scales, &quats, &logits, &sh, &g[0], &g[1], &g[2], &g[3], &g[4],
                         &rgb, &alpha, &depth, &d_rgb, &d_alpha, &d_depth, &g2n, &vis};
    for (size_t k = 0; k < sizeof all / sizeof all[0]; k++) vkd_buffer_free(gpu, all[k]);
    free(cams);
    vkd_splat_ctx_destroy(ctx);
    vkd_stream_destroy(s);
    vkd_gpu_destroy(gpu);
    return 0;
}
