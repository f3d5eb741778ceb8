// A tiny end-to-end check of the device: allocate, upload, dispatch, download, compare.
#include "vkdream/gpu.h"
#include "gpu/selfcheck.h"
#include "vkd_shaders.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

vkd_status vkd_gpu_selfcheck(vkd_gpu* gpu, uint32_t* subgroup_size, vkd_error* err) {
    enum { N = 1000 };
    float x[N], y[N + 1];
    for (int i = 0; i < N; i++) x[i] = (float)i * 0.5f - 100.0f;
    vkd_buffer bx = {0}, by = {0};
    vkd_stream* s = NULL;
    vkd_status st = vkd_buffer_alloc(gpu, sizeof x, &bx, err);
    if (!st) st = vkd_buffer_alloc(gpu, sizeof y, &by, err);
    if (!st) st = vkd_buffer_upload(gpu, &bx, 0, x, sizeof x, err);
    if (!st) st = vkd_stream_create(gpu, &s, err);
    if (!st) {
        vkd_selfcheck_push p = {.y = by.addr, .x = bx.addr, .n = N};
        vkd_stream_dispatch(s, VKD_KERNEL(gpu_selfcheck), &p, sizeof p, (N + 63) / 64, 1, 1);
        st = vkd_stream_submit(s, err);
    }
    if (!st) st = vkd_buffer_download(gpu, &by, 0, y, sizeof y, err);
    for (int i = 0; !st && i < N; i++)
        if (fabsf(y[i] - (2.0f * x[i] + 1.0f)) > 1e-6f)
            st = vkd_error_set(err, VKD_ERR_GPU, "self-check kernel computed y[%d] = %g, expected %g", i, y[i],
                               2.0f * x[i] + 1.0f);
    if (!st && subgroup_size) memcpy(subgroup_size, &y[N], sizeof *subgroup_size);
    vkd_stream_destroy(s);
    vkd_buffer_free(gpu, &by);
    vkd_buffer_free(gpu, &bx);
    return st;
}
