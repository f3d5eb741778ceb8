// Push constants of the elementwise kernels (unary activations, same-shape binary
// ops, GEGLU). The op codes equal the vkd_unary_op / vkd_binary_op enum values of
// include/vkdream/nn/eltwise.h (src/nn/eltwise.c static_asserts it) and are passed as
// specialization constant 0, so each op compiles to its own branch-free pipeline.
#ifndef VKD_SHADERS_NN_ELTWISE_H
#define VKD_SHADERS_NN_ELTWISE_H
#include "common.h"

#define VKD_UNARY_OP_SCALE 0
#define VKD_UNARY_OP_SILU 1
#define VKD_UNARY_OP_GELU 2
#define VKD_UNARY_OP_GELU_TANH 3
#define VKD_UNARY_OP_QUICK_GELU 4
#define VKD_UNARY_OP_SIGMOID 5
#define VKD_UNARY_OP_SOFTPLUS 6
#define VKD_UNARY_OP_EXP 7
#define VKD_UNARY_OP_RELU 8
#define VKD_UNARY_OP_TANH 9
#define VKD_UNARY_OP_COUNT 10

#define VKD_BINARY_OP_ADD 0
#define VKD_BINARY_OP_SUB 1
#define VKD_BINARY_OP_MUL 2
#define VKD_BINARY_OP_COUNT 3

VKD_PUSH_BEGIN(vkd_unary_push)
    uint64_t dst;    // (n,) forward: out; backward: dinp (+=)
    uint64_t src;    // (n,) forward: inp; backward: dout
    uint64_t x;      // (n,) backward only: the forward input
    uint32_t n;
    float alpha;     // SCALE: y = alpha * x + beta
    float beta;
VKD_PUSH_END(vkd_unary_push)

VKD_PUSH_BEGIN(vkd_binary_push)
    uint64_t dst;    // (n,) forward: out
    uint64_t a;      // (n,)
    uint64_t b;      // (n,)
    uint64_t da;     // (n,) backward, += ; 0 = not needed
    uint64_t db;     // (n,) backward, += ; 0 = not needed
    uint64_t dout;   // (n,) backward
    uint32_t n;
VKD_PUSH_END(vkd_binary_push)

VKD_PUSH_BEGIN(vkd_geglu_push)
    uint64_t dst;    // forward: out (rows, f); backward: dinp (rows, 2f) +=
    uint64_t src;    // forward: inp (rows, 2f); backward: dout (rows, f)
    uint64_t x;      // backward: inp (rows, 2f)
    uint32_t rows;
    uint32_t f;      // features per half
VKD_PUSH_END(vkd_geglu_push)

#endif
