#version 450
#extension GL_GOOGLE_include_directive : require
#extension GL_EXT_control_flow_attributes : require
#include "common.glsl"
#include "nn/conv2d.h"
// conv2d forward: out = conv2d(inp, weight) + bias, as an implicit GEMM.
// Tile sizes (see conv2d_igemm.glsl); src/nn/conv2d.c picks them per device and shape.
layout(constant_id = 0) const uint BM = 64;
layout(constant_id = 1) const uint BN = 64;
layout(constant_id = 2) const uint BK = 16;
layout(constant_id = 3) const uint TM = 4;
layout(constant_id = 4) const uint TN = 4;
layout(constant_id = 5) const uint NT = 256;  // == (BM / TM) * (BN / TN)
layout(constant_id = 6) const bool WEIGHT_F16 = false;  // weight stored as fp16
layout(local_size_x_id = 5) in;
layout(push_constant) uniform Push { vkd_conv2d_push p; };
#define CONV2D_BWD_DATA 0
#include "nn/conv2d_igemm.glsl"
