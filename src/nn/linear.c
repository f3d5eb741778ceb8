// Linear layers as GEMMs: inp (N, C) @ weight^T, weight stored (OC, C) and read transposed.
#include "vkdream/nn/linear.h"
#include "vkdream/nn/matmul.h"

#include <stdint.h>

static bool dims_ok(vkd_stream* s, const char* op, uint32_t N, uint32_t C, uint32_t OC) {
    if (!N || !C || !OC || N > INT32_MAX || C > INT32_MAX || OC > INT32_MAX) {
        vkd_stream_fail(s, VKD_ERR_INVALID, "%s: N=%u C=%u OC=%u (each must be in [1, 2^31))", op, N, C, OC);
        return false;
    }
    return true;
}

void vkd_linear_forward(vkd_stream* s, vkd_addr out, vkd_addr inp, vkd_addr weight, vkd_addr bias, uint32_t N,
                        uint32_t C, uint32_t OC, bool weight_f16) {
    if (!dims_ok(s, "linear_forward", N, C, OC)) return;
    vkd_matmul_forward(s, out, inp, weight, bias,
                       &(vkd_matmul_desc){.M = (int32_t)N, .N = (int32_t)OC, .K = (int32_t)C, .trans_b = true,
                                          .b_f16 = weight_f16});
}

void vkd_linear_backward(vkd_stream* s, vkd_addr dinp, vkd_addr dweight, vkd_addr dbias, vkd_addr dout, vkd_addr inp,
                         vkd_addr weight, uint32_t N, uint32_t C, uint32_t OC, bool weight_f16) {
    if (!dims_ok(s, "linear_backward", N, C, OC)) return;
    // The GEMM backward with trans_b gives dinp += dout @ weight and dweight += dout^T @ inp
    // (a transposed-A GEMM on the same fast kernel), and the bias column sum.
    vkd_matmul_backward(s, dinp, dweight, dbias, dout, inp, weight,
                        &(vkd_matmul_desc){.M = (int32_t)N, .N = (int32_t)OC, .K = (int32_t)C, .trans_b = true,
                                           .b_f16 = weight_f16});
}
