// Host side of the "team" kernels of shaders/nn/reduce_team.glsl (LayerNorm, softmax,
// GroupNorm): each item (row, group, channel) is reduced either by one subgroup, several
// items per workgroup, or by a whole workgroup.
//
// Subgroup teams need no barriers or shared memory; a workgroup team brings 8x more
// invocations to one long item. On GPUs long items (> 1024 values, 32 per lane of a
// 32-wide subgroup) go to workgroups for memory-level parallelism. On CPU devices
// (llvmpipe) subgroup teams win at every length (8x faster for 4096-value channels: each
// workgroup runs on one thread and every barrier costs), so they are used throughout.
// $VKD_TEAM_SG_MAX overrides the limit (values per item up to which subgroups are used;
// 0: always workgroups), for tuning and for tests that exercise both kinds on one device.
#ifndef VKD_NN_REDUCE_TEAM_H
#define VKD_NN_REDUCE_TEAM_H
#include "vkdream/gpu.h"

#include <stdlib.h>

#define VKD_TEAM_SG_MAX_GPU 1024
#define VKD_TEAM_WG 256

typedef struct vkd_team_plan {
    uint32_t wg;      // invocations per workgroup (spec constant 0)
    bool sg;          // subgroup teams (spec constant 1)
    uint32_t groups;  // workgroups to launch
} vkd_team_plan;

static inline vkd_team_plan vkd_team_plan_for(vkd_stream* s, uint64_t item_len, uint32_t items) {
    const vkd_gpu_info* info = vkd_gpu_get_info(vkd_stream_gpu(s));
    uint64_t sg_max = info->kind == VKD_DEVICE_CPU ? UINT64_MAX : VKD_TEAM_SG_MAX_GPU;
    const char* env = getenv("VKD_TEAM_SG_MAX");
    if (env && *env) sg_max = strtoull(env, NULL, 10);
    vkd_team_plan t = {.wg = VKD_TEAM_WG, .sg = item_len <= sg_max, .groups = items};
    if (t.sg) {
        // The reported size sizes the grid; the kernels' grid-stride loops stay correct if
        // the driver picks another one for this pipeline.
        uint32_t sg = info->subgroup_size;
        uint32_t per = sg && sg <= VKD_TEAM_WG ? VKD_TEAM_WG / sg : 1;
        t.groups = (uint32_t)(((uint64_t)items + per - 1) / per);
    }
    return t;
}

// Launches plan.groups workgroups, spread over x and y within the device limits.
static inline void vkd_team_dispatch(vkd_stream* s, vkd_kernel_desc k, const void* push, uint32_t push_size,
                                     vkd_team_plan plan) {
    uint32_t max_x = vkd_gpu_get_info(vkd_stream_gpu(s))->max_workgroup_count[0];
    uint32_t gx = plan.groups < max_x ? plan.groups : max_x;
    if (gx == 0) return;
    vkd_stream_dispatch(s, k, push, push_size, gx, (plan.groups + gx - 1) / gx, 1);
}

#endif
