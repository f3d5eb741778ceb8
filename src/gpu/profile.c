// Per-kernel time table from timestamp queries (VKD_PROFILE=1 or vkd_gpu_desc.profile).
#include "gpu_internal.h"

#include <stdlib.h>
#include <string.h>

uint32_t vkd_gpu_profile_slot(vkd_gpu* gpu, const char* name) {
    for (uint32_t i = 0; i < gpu->profile_count; i++)
        if (strcmp(gpu->profile_rows[i].name, name) == 0) return i;
    if (gpu->profile_count == gpu->profile_cap) {
        uint32_t cap = gpu->profile_cap ? gpu->profile_cap * 2 : 64;
        vkd_profile_row* rows = realloc(gpu->profile_rows, cap * sizeof *rows);
        if (!rows) return UINT32_MAX;
        gpu->profile_rows = rows;
        gpu->profile_cap = cap;
    }
    gpu->profile_rows[gpu->profile_count] = (vkd_profile_row){.name = name};
    return gpu->profile_count++;
}

bool vkd_gpu_profiling(const vkd_gpu* gpu) { return gpu->profile; }

void vkd_gpu_profile_reset(vkd_gpu* gpu) {
    for (uint32_t i = 0; i < gpu->profile_count; i++) {
        gpu->profile_rows[i].calls = 0;
        gpu->profile_rows[i].total_ns = 0;
    }
}

static int by_time(const void* a, const void* b) {
    double ta = ((const vkd_profile_row*)a)->total_ns, tb = ((const vkd_profile_row*)b)->total_ns;
    return ta < tb ? 1 : ta > tb ? -1 : 0;
}

void vkd_gpu_profile_print(const vkd_gpu* gpu, FILE* f) {
    if (!gpu->profile_count) return;
    vkd_profile_row* rows = malloc(gpu->profile_count * sizeof *rows);
    if (!rows) return;
    memcpy(rows, gpu->profile_rows, gpu->profile_count * sizeof *rows);
    qsort(rows, gpu->profile_count, sizeof *rows, by_time);
    double total = 0;
    for (uint32_t i = 0; i < gpu->profile_count; i++) total += rows[i].total_ns;
    fprintf(f, "\nvkdream kernel profile on %s\n", gpu->info.name);
    fprintf(f, "%-36s %10s %12s %12s %7s\n", "kernel", "calls", "total ms", "mean us", "share");
    for (uint32_t i = 0; i < gpu->profile_count; i++) {
        if (!rows[i].calls) continue;
        fprintf(f, "%-36s %10llu %12.3f %12.2f %6.1f%%\n", rows[i].name, (unsigned long long)rows[i].calls,
                rows[i].total_ns * 1e-6, rows[i].total_ns * 1e-3 / (double)rows[i].calls,
                total > 0 ? 100.0 * rows[i].total_ns / total : 0.0);
    }
    fprintf(f, "%-36s %10s %12.3f\n", "total", "", total * 1e-6);
    free(rows);
}
