// bench_hashgrid: throughput of the hash-grid NeRF field (encoding + MLPs + heads), forward and
// forward + backward, on random points.
//   bench_hashgrid [--n 262144] [--iters 5] [--shared] [--hidden-layers 1] [--active L] [--device NAME]
// Times are wall clock per submitted pass (one submit each). With VKD_PROFILE=1 the per-kernel
// table of the timed passes is printed to stderr at the end.
#define _POSIX_C_SOURCE 200809L
#include "vkdream/hashgrid.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static double clock_ms(clockid_t id) {
    struct timespec ts;
    clock_gettime(id, &ts);
    return ts.tv_sec * 1e3 + ts.tv_nsec * 1e-6;
}

// Wall clock, and the CPU time of the whole process (on lavapipe: the work itself, whatever else
// runs on the machine).
typedef struct stamp {
    double wall, cpu;
} stamp;

static stamp now(void) { return (stamp){clock_ms(CLOCK_MONOTONIC), clock_ms(CLOCK_PROCESS_CPUTIME_ID)}; }

static int fail(const char* what, const vkd_error* e) {
    fprintf(stderr, "bench_hashgrid: %s: %s\n", what, e->msg);
    return 1;
}

static uint64_t rng = 0x9E3779B97F4A7C15ull;
static float uniform(float lo, float hi) {
    uint64_t z = (rng += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    z ^= z >> 31;
    return lo + (hi - lo) * (float)((double)(z >> 11) * (1.0 / 9007199254740992.0));
}

int main(int argc, char** argv) {
    uint32_t n = 1u << 18, iters = 5, layers = 1, active = 0;
    bool shared = false;
    const char* device = NULL;
    for (int i = 1; i < argc; i++) {
        const char* a = argv[i];
        bool more = i + 1 < argc;
        if (!strcmp(a, "--n") && more)
            n = (uint32_t)strtoul(argv[++i], NULL, 0);
        else if (!strcmp(a, "--iters") && more)
            iters = (uint32_t)strtoul(argv[++i], NULL, 0);
        else if (!strcmp(a, "--hidden-layers") && more)
            layers = (uint32_t)strtoul(argv[++i], NULL, 0);
        else if (!strcmp(a, "--active") && more)
            active = (uint32_t)strtoul(argv[++i], NULL, 0);
        else if (!strcmp(a, "--shared"))
            shared = true;
        else if (!strcmp(a, "--device") && more)
            device = argv[++i];
        else {
            printf(
                "usage: bench_hashgrid [--n 262144] [--iters 5] [--shared] [--hidden-layers 1] [--active L] "
                "[--device NAME]\n");
            return strcmp(a, "--help") ? 2 : 0;
        }
    }
    if (!n || !iters) return 2;
    vkd_error err = {0};
    vkd_gpu* gpu = NULL;
    vkd_stream* s = NULL;
    if (vkd_gpu_create(&(vkd_gpu_desc){.device = device}, &gpu, &err)) return fail("device", &err);
    if (vkd_stream_create(gpu, &s, &err)) return fail("stream", &err);
    const vkd_gpu_info* info = vkd_gpu_get_info(gpu);

    vkd_nerf_field_desc desc = {
        .hidden_layers = layers, .mlp_layout = shared ? VKD_NERF_MLP_SHARED : VKD_NERF_MLP_SEPARATE, .seed = 1};
    vkd_nerf_field* f = NULL;
    if (vkd_nerf_field_create(gpu, &desc, &f, &err)) return fail("field", &err);
    if (active) vkd_nerf_field_set_active_levels(f, active);
    const vkd_nerf_field_desc* d = vkd_nerf_field_desc_of(f);

    vkd_buffer pos, dens, rgb, gd, gc, dpos, ws;
    size_t wsb = vkd_nerf_field_workspace_bytes(f, n);
    if (vkd_buffer_alloc(gpu, 12ull * n, &pos, &err) || vkd_buffer_alloc(gpu, 4ull * n, &dens, &err) ||
        vkd_buffer_alloc(gpu, 12ull * n, &rgb, &err) || vkd_buffer_alloc(gpu, 4ull * n, &gd, &err) ||
        vkd_buffer_alloc(gpu, 12ull * n, &gc, &err) || vkd_buffer_alloc(gpu, 12ull * n, &dpos, &err) ||
        vkd_buffer_alloc(gpu, wsb, &ws, &err))
        return fail("buffers", &err);
    float* h = malloc(12ull * n);
    for (size_t i = 0; i < 3ull * n; i++) h[i] = uniform(-d->bound, d->bound);
    if (vkd_buffer_upload(gpu, &pos, 0, h, 12ull * n, &err)) return fail("upload", &err);
    for (size_t i = 0; i < 3ull * n; i++) h[i] = uniform(-1, 1);
    if (vkd_buffer_upload(gpu, &gc, 0, h, 12ull * n, &err) || vkd_buffer_upload(gpu, &gd, 0, h, 4ull * n, &err))
        return fail("upload", &err);
    free(h);

    printf(
        "bench_hashgrid on %s: n = %u, %s MLP%s 64 x %u, %u levels (%u active), 2^%u table, %.1f MiB params, "
        "%.1f MiB workspace\n",
        info->name, n, shared ? "shared" : "separate", shared ? "" : "s", d->hidden_layers, d->grid.levels,
        d->grid.active_levels, d->grid.log2_table, vkd_nerf_field_layout_of(f)->total * 4.0 / (1 << 20),
        wsb / (double)(1 << 20));
    // Warm-up (pipelines, first touch of the memory).
    vkd_nerf_field_zero_grad(f, s);
    vkd_nerf_field_forward(f, s, dens.addr, rgb.addr, pos.addr, n, ws.addr);
    vkd_nerf_field_backward(f, s, dpos.addr, gd.addr, gc.addr, pos.addr, n, ws.addr);
    if (vkd_stream_submit(s, &err)) return fail("warm-up", &err);
    if (vkd_gpu_profiling(gpu)) vkd_gpu_profile_reset(gpu);

    // Best of `iters` for each pass: density only, forward, forward + backward (parameter
    // gradients, as in training), the same with position gradients, and the density gradient
    // (analytic normals).
    enum { PASSES = 5 };
    stamp best[PASSES];
    for (int pass = 0; pass < PASSES; pass++) best[pass] = (stamp){1e30, 1e30};
    for (uint32_t it = 0; it < iters; it++)
        for (int pass = 0; pass < PASSES; pass++) {
            stamp t0 = now();
            if (pass == 4) {
                vkd_nerf_field_density_grad(f, s, dpos.addr, dens.addr, pos.addr, n, ws.addr);
            } else {
                vkd_nerf_field_forward(f, s, dens.addr, pass ? rgb.addr : 0, pos.addr, n, ws.addr);
                if (pass >= 2)
                    vkd_nerf_field_backward(f, s, pass == 3 ? dpos.addr : 0, gd.addr, gc.addr, pos.addr, n, ws.addr);
            }
            if (vkd_stream_submit(s, &err)) return fail("pass", &err);
            stamp t1 = now();
            if (t1.wall - t0.wall < best[pass].wall) best[pass].wall = t1.wall - t0.wall;
            if (t1.cpu - t0.cpu < best[pass].cpu) best[pass].cpu = t1.cpu - t0.cpu;
        }
    static const char* names[] = {"density only", "forward", "forward + backward", "  + d positions",
                                  "density gradient"};
    printf("best of %u           wall ms      points/s     CPU ms (all threads)\n", iters);
    for (int pass = 0; pass < PASSES; pass++)
        printf("  %-18s %9.2f  %12.4g  %9.2f\n", names[pass], best[pass].wall, n / (best[pass].wall * 1e-3),
               best[pass].cpu);

    vkd_buffer* bufs[] = {&pos, &dens, &rgb, &gd, &gc, &dpos, &ws};
    for (size_t i = 0; i < sizeof bufs / sizeof bufs[0]; i++) vkd_buffer_free(gpu, bufs[i]);
    vkd_nerf_field_destroy(f);
    vkd_stream_destroy(s);
    vkd_gpu_destroy(gpu);
    return 0;
}
