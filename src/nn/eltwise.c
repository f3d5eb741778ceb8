#include "vkdream/nn/eltwise.h"
#include "nn/eltwise.h"
#include "vkd_shaders.h"

static_assert(VKD_UNARY_SCALE == VKD_UNARY_OP_SCALE && VKD_UNARY_SILU == VKD_UNARY_OP_SILU &&
                  VKD_UNARY_GELU == VKD_UNARY_OP_GELU && VKD_UNARY_GELU_TANH == VKD_UNARY_OP_GELU_TANH &&
                  VKD_UNARY_QUICK_GELU == VKD_UNARY_OP_QUICK_GELU && VKD_UNARY_SIGMOID == VKD_UNARY_OP_SIGMOID &&
                  VKD_UNARY_SOFTPLUS == VKD_UNARY_OP_SOFTPLUS && VKD_UNARY_EXP == VKD_UNARY_OP_EXP &&
                  VKD_UNARY_RELU == VKD_UNARY_OP_RELU && VKD_UNARY_TANH == VKD_UNARY_OP_TANH &&
                  VKD_UNARY_COUNT == VKD_UNARY_OP_COUNT,
              "vkd_unary_op must match the op codes in shaders/nn/eltwise.h");
static_assert(VKD_BINARY_ADD == VKD_BINARY_OP_ADD && VKD_BINARY_SUB == VKD_BINARY_OP_SUB &&
                  VKD_BINARY_MUL == VKD_BINARY_OP_MUL && VKD_BINARY_COUNT == VKD_BINARY_OP_COUNT,
              "vkd_binary_op must match the op codes in shaders/nn/eltwise.h");

const char* vkd_unary_op_name(vkd_unary_op op) {
    static const char* const names[] = {"scale", "silu", "gelu",     "gelu_tanh", "quick_gelu",
                                        "sigmoid", "softplus", "exp", "relu",      "tanh"};
    static_assert(sizeof names / sizeof names[0] == VKD_UNARY_COUNT, "one name per unary op");
    return (unsigned)op < VKD_UNARY_COUNT ? names[op] : "invalid";
}

const char* vkd_binary_op_name(vkd_binary_op op) {
    static const char* const names[] = {"add", "sub", "mul"};
    static_assert(sizeof names / sizeof names[0] == VKD_BINARY_COUNT, "one name per binary op");
    return (unsigned)op < VKD_BINARY_COUNT ? names[op] : "invalid";
}

static bool unary_op_ok(vkd_stream* s, const char* fn, vkd_unary_op op) {
    if ((unsigned)op < VKD_UNARY_COUNT) return true;
    vkd_stream_fail(s, VKD_ERR_INVALID, "%s: op %d is not a vkd_unary_op (0..%d)", fn, (int)op, VKD_UNARY_COUNT - 1);
    return false;
}

static bool binary_op_ok(vkd_stream* s, const char* fn, vkd_binary_op op) {
    if ((unsigned)op < VKD_BINARY_COUNT) return true;
    vkd_stream_fail(s, VKD_ERR_INVALID, "%s: op %d is not a vkd_binary_op (0..%d)", fn, (int)op, VKD_BINARY_COUNT - 1);
    return false;
}

static void unary_fwd(vkd_stream* s, vkd_addr out, vkd_addr inp, uint32_t n, vkd_unary_op op, float alpha,
                      float beta) {
    if (n == 0) return;
    vkd_unary_push p = {.dst = out, .src = inp, .n = n, .alpha = alpha, .beta = beta};
    vkd_stream_dispatch_1d(s, VKD_KERNEL_SPEC(nn_eltwise_unary_fwd, (uint32_t)op), &p, sizeof p, n, 256);
}

static void unary_bwd(vkd_stream* s, vkd_addr dinp, vkd_addr dout, vkd_addr inp, uint32_t n, vkd_unary_op op,
                      float alpha) {
    if (n == 0 || !dinp) return;
    vkd_unary_push p = {.dst = dinp, .src = dout, .x = inp, .n = n, .alpha = alpha};
    vkd_stream_dispatch_1d(s, VKD_KERNEL_SPEC(nn_eltwise_unary_bwd, (uint32_t)op), &p, sizeof p, n, 256);
}

void vkd_unary_forward(vkd_stream* s, vkd_addr out, vkd_addr inp, uint32_t n, vkd_unary_op op) {
    if (unary_op_ok(s, "unary_forward", op)) unary_fwd(s, out, inp, n, op, 1.0f, 0.0f);
}

void vkd_unary_backward(vkd_stream* s, vkd_addr dinp, vkd_addr dout, vkd_addr inp, uint32_t n, vkd_unary_op op) {
    if (unary_op_ok(s, "unary_backward", op)) unary_bwd(s, dinp, dout, inp, n, op, 1.0f);
}

void vkd_scale_forward(vkd_stream* s, vkd_addr out, vkd_addr inp, uint32_t n, float alpha, float beta) {
    unary_fwd(s, out, inp, n, VKD_UNARY_SCALE, alpha, beta);
}

void vkd_scale_backward(vkd_stream* s, vkd_addr dinp, vkd_addr dout, uint32_t n, float alpha) {
    // The derivative of a x + b does not read x: dout stands in for it.
    unary_bwd(s, dinp, dout, dout, n, VKD_UNARY_SCALE, alpha);
}

void vkd_binary_forward(vkd_stream* s, vkd_addr out, vkd_addr a, vkd_addr b, uint32_t n, vkd_binary_op op) {
    if (!binary_op_ok(s, "binary_forward", op) || n == 0) return;
    vkd_binary_push p = {.dst = out, .a = a, .b = b, .n = n};
    vkd_stream_dispatch_1d(s, VKD_KERNEL_SPEC(nn_eltwise_binary_fwd, (uint32_t)op), &p, sizeof p, n, 256);
}

void vkd_binary_backward(vkd_stream* s, vkd_addr da, vkd_addr db, vkd_addr dout, vkd_addr a, vkd_addr b, uint32_t n,
                         vkd_binary_op op) {
    if (!binary_op_ok(s, "binary_backward", op) || n == 0 || (!da && !db)) return;
    if (op == VKD_BINARY_MUL && ((da && !b) || (db && !a))) {
        vkd_stream_fail(s, VKD_ERR_INVALID, "binary_backward: mul needs b for da and a for db (got a=%s, b=%s)",
                        a ? "set" : "0", b ? "set" : "0");
        return;
    }
    vkd_binary_push p = {.a = a, .b = b, .da = da, .db = db, .dout = dout, .n = n};
    vkd_stream_dispatch_1d(s, VKD_KERNEL_SPEC(nn_eltwise_binary_bwd, (uint32_t)op), &p, sizeof p, n, 256);
}

static bool geglu_dims_ok(vkd_stream* s, const char* fn, uint32_t rows, uint32_t f) {
    if ((uint64_t)rows * f * 2 < ((uint64_t)1 << 32)) return true;
    vkd_stream_fail(s, VKD_ERR_INVALID, "%s: rows %u x 2f %llu exceeds the 32-bit index range", fn, rows,
                    2ull * f);
    return false;
}

void vkd_geglu_forward(vkd_stream* s, vkd_addr out, vkd_addr inp, uint32_t rows, uint32_t f) {
    if (!geglu_dims_ok(s, "geglu_forward", rows, f) || rows == 0 || f == 0) return;
    vkd_geglu_push p = {.dst = out, .src = inp, .rows = rows, .f = f};
    vkd_stream_dispatch_1d(s, VKD_KERNEL(nn_eltwise_geglu_fwd), &p, sizeof p, (uint64_t)rows * f, 256);
}

void vkd_geglu_backward(vkd_stream* s, vkd_addr dinp, vkd_addr dout, vkd_addr inp, uint32_t rows, uint32_t f) {
    if (!geglu_dims_ok(s, "geglu_backward", rows, f) || rows == 0 || f == 0 || !dinp) return;
    vkd_geglu_push p = {.dst = dinp, .src = dout, .x = inp, .rows = rows, .f = f};
    vkd_stream_dispatch_1d(s, VKD_KERNEL(nn_eltwise_geglu_bwd), &p, sizeof p, (uint64_t)rows * f, 256);
}
