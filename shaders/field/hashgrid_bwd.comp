#version 450
#extension GL_GOOGLE_include_directive : require
#extension GL_EXT_shader_atomic_float : require
#include "common.glsl"
#include "field/hashgrid.h"

void hg_atomic_add(uint64_t addr, uint index, float value) { atomicAdd(f32(addr).v[index], value); }

#include "field/hashgrid_bwd_body.glsl"
