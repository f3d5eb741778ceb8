#version 450
#extension GL_GOOGLE_include_directive : require
#extension GL_EXT_shader_atomic_float : require
#extension GL_KHR_shader_subgroup_arithmetic : require
#extension GL_KHR_shader_subgroup_vote : require
#extension GL_KHR_shader_subgroup_basic : require
#include "common.glsl"
#include "field/splat.h"

// Used where the device has VK_EXT_shader_atomic_float (vkd_gpu_info.float_atomics).
void splat_atomic_add(uint64_t addr, uint index, float value) { atomicAdd(f32(addr).v[index], value); }

#include "field/splat_raster_bwd_body.glsl"
