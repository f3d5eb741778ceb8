// bench_nerf: one training iteration of the assembled NeRF (render + backward + Adam step) at
// several image sizes, with threestudio's default field (16 levels x 2, 2^19 table, 64-wide MLPs,
// blob init) and 256 steps across the bounding cube, B = 1.
//   bench_nerf [--sizes 64,256] [--iters 3] [--steps 256] [--shading albedo|lambertian|both]
//              [--chunk POINTS] [--no-grid] [--device NAME]
// The occupancy grid (128^3) gets its warm-up update first, so the march skips the empty space
// around the initial blob as in training. Each configuration runs in its own device context so
// the peak memory is its own. Times are wall clock; samples/s counts the marched samples N.
#define _POSIX_C_SOURCE 200809L
#include "vkdream/nerf.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static double now_ms(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1e3 + ts.tv_nsec * 1e-6;
}

static int fail(const char* what, const vkd_error* e) {
    fprintf(stderr, "bench_nerf: %s: %s\n", what, e->msg);
    return 1;
}

typedef struct result {
    double render_ms, backward_ms, samples, peak_mib, model_mib;
} result;

static int run(const char* device, int size, uint32_t steps, uint32_t iters, vkd_volrend_shading shading, bool no_grid,
               uint32_t chunk, result* r) {
    vkd_error err = {0};
    vkd_gpu* gpu = NULL;
    vkd_stream* s = NULL;
    vkd_nerf* n = NULL;
    if (vkd_gpu_create(&(vkd_gpu_desc){.device = device}, &gpu, &err)) return fail("device", &err);
    if (vkd_stream_create(gpu, &s, &err)) return fail("stream", &err);
    vkd_nerf_desc desc = {.num_steps = steps, .no_grid = no_grid, .chunk = chunk, .field = {.seed = 1}};
    if (vkd_nerf_create(gpu, &desc, &n, &err)) return fail("create", &err);
    if (vkd_nerf_update_occupancy(n, s, 0, &err) || vkd_stream_submit(s, &err)) return fail("occupancy", &err);
    vkd_camera cam =
        vkd_camera_orbit(&(vkd_orbit_desc){.azimuth_deg = 30, .elevation_deg = 15, .width = size, .height = size});
    uint32_t rays = (uint32_t)(size * size);
    vkd_buffer rgb, drgb;
    if (vkd_buffer_alloc(gpu, 12ull * rays, &rgb, &err) || vkd_buffer_alloc(gpu, 12ull * rays, &drgb, &err))
        return fail("buffers", &err);
    vkd_stream_fill(s, drgb.addr, 3 * rays, 0x38d1b717u);  // 1e-4: an MSE-sized image gradient
    vkd_volrend_image out = {.rgb = rgb.addr}, dout = {.rgb = drgb.addr};
    vkd_nerf_render_desc rd = {.shading = shading, .stratified = true};
    *r = (result){1e30, 1e30, 0, 0, 0};
    for (uint32_t it = 0; it <= iters; it++) {  // iteration 0 warms the pipelines up
        rd.seed = it;
        double t0 = now_ms();
        if (vkd_nerf_render(n, s, &out, &cam, 1, &rd, &err) || vkd_stream_submit(s, &err)) return fail("render", &err);
        double t1 = now_ms();
        if (vkd_nerf_backward(n, s, &dout, NULL, &err)) return fail("backward", &err);
        vkd_nerf_step(n, s);
        vkd_nerf_zero_grad(n, s);
        if (vkd_stream_submit(s, &err)) return fail("backward", &err);
        double t2 = now_ms();
        if (it && t2 - t0 < r->render_ms + r->backward_ms) {
            r->render_ms = t1 - t0;
            r->backward_ms = t2 - t1;
            r->samples = vkd_nerf_sample_count(n);
        }
    }
    r->peak_mib = vkd_gpu_peak_allocated_bytes(gpu) / (double)(1 << 20);
    r->model_mib = vkd_nerf_bytes(n) / (double)(1 << 20);
    vkd_buffer_free(gpu, &rgb);
    vkd_buffer_free(gpu, &drgb);
    vkd_nerf_destroy(n);
    vkd_stream_destroy(s);
    vkd_gpu_destroy(gpu);
    return 0;
}

int main(int argc, char** argv) {
    int sizes[8] = {64, 256}, nsizes = 2;
    uint32_t iters = 3, steps = 256, chunk = 0;
    const char* device = NULL;
    int shade_from = 0, shade_to = 1;
    bool no_grid = false;
    for (int i = 1; i < argc; i++) {
        const char* a = argv[i];
        bool more = i + 1 < argc;
        if (!strcmp(a, "--sizes") && more) {
            nsizes = 0;
            for (char* p = argv[++i]; *p && nsizes < 8;) {
                sizes[nsizes++] = (int)strtol(p, &p, 10);
                if (*p == ',') p++;
            }
        } else if (!strcmp(a, "--iters") && more) {
            iters = (uint32_t)strtoul(argv[++i], NULL, 0);
        } else if (!strcmp(a, "--steps") && more) {
            steps = (uint32_t)strtoul(argv[++i], NULL, 0);
        } else if (!strcmp(a, "--shading") && more) {
            const char* v = argv[++i];
            shade_from = !strcmp(v, "lambertian") ? 1 : 0;
            shade_to = !strcmp(v, "albedo") ? 0 : 1;
        } else if (!strcmp(a, "--chunk") && more) {
            chunk = (uint32_t)strtoul(argv[++i], NULL, 0);
        } else if (!strcmp(a, "--no-grid")) {
            no_grid = true;
        } else if (!strcmp(a, "--device") && more) {
            device = argv[++i];
        } else {
            printf(
                "usage: bench_nerf [--sizes 64,256] [--iters 3] [--steps 256] [--shading albedo|lambertian|both] "
                "[--chunk POINTS] [--no-grid] [--device NAME]\n");
            return strcmp(a, "--help") ? 2 : 0;
        }
    }
    if (!iters || !steps || !nsizes) return 2;
    printf(
        "bench_nerf: threestudio defaults (16 levels x 2, 2^19 table, 64-wide MLPs), %u steps across the cube, "
        "B = 1, %s, best of %u\n",
        steps, no_grid ? "no occupancy grid" : "128^3 occupancy grid after its warm-up update", iters);
    printf(
        "| size | shading | samples N | render ms | backward + step ms | total ms | samples/s | peak MiB | "
        "model MiB |\n|---|---|---|---|---|---|---|---|---|\n");
    for (int k = 0; k < nsizes; k++)
        for (int sh = shade_from; sh <= shade_to; sh++) {
            vkd_volrend_shading mode = sh ? VKD_VOLREND_SHADE_LAMBERTIAN : VKD_VOLREND_SHADE_ALBEDO;
            result r;
            if (run(device, sizes[k], steps, iters, mode, no_grid, chunk, &r)) return 1;
            double total = r.render_ms + r.backward_ms;
            printf("| %d^2 | %s | %.0f | %.1f | %.1f | %.1f | %.3g | %.0f | %.0f |\n", sizes[k],
                   sh ? "lambertian (fd normals)" : "albedo", r.samples, r.render_ms, r.backward_ms, total,
                   r.samples / (total * 1e-3), r.peak_mib, r.model_mib);
            fflush(stdout);
        }
    return 0;
}
