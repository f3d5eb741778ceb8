// Teams: kernels that reduce many independent items (rows, groups, channels) give each
// item to a team, either one subgroup (VKD_TEAM_SG: several items per workgroup, no
// barriers or shared memory at all: the fastest for short items on GPUs and on llvmpipe,
// whose workgroups cost a lot each) or the whole workgroup (long items). Items are
// visited by a grid-stride loop, so the result is right whatever subgroup size the
// device really uses (the host sizes the grid from the size it reports; see
// src/nn/reduce_team.h). The includer declares its workgroup size and the
// specialization constant bool VKD_TEAM_SG before including this file.
#include "nn/reduce_wg.glsl"

uint vkd_team_size() { return VKD_TEAM_SG ? gl_SubgroupSize : gl_WorkGroupSize.x; }
uint vkd_team_lane() { return VKD_TEAM_SG ? gl_SubgroupInvocationID : gl_LocalInvocationID.x; }
uint vkd_team_first() { return VKD_TEAM_SG ? vkd_group_id() * gl_NumSubgroups + gl_SubgroupID : vkd_group_id(); }
uint vkd_team_stride() { return gl_NumWorkGroups.x * gl_NumWorkGroups.y * (VKD_TEAM_SG ? gl_NumSubgroups : 1); }

vec2 vkd_team_sum2(vec2 v) {
    if (VKD_TEAM_SG) return subgroupAdd(v);
    return vkd_wg_sum2(v);
}

float vkd_team_sum(float v) {
    if (VKD_TEAM_SG) return subgroupAdd(v);
    return vkd_wg_sum(v);
}

float vkd_team_max(float v) {
    if (VKD_TEAM_SG) return subgroupMax(v);
    return vkd_wg_max(v);
}
