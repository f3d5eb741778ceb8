// LayerNorm over the last dimension, fp32, PyTorch semantics (nn.LayerNorm(C), biased
// variance, eps inside the square root):
//   out[r, c] = (inp[r, c] - mean[r]) * rstd[r] * weight[c] + bias[c],
//   rstd[r] = 1 / sqrt(var[r] + eps).
// The variance comes from a corrected two-pass sum, so rows with |mean| >> std keep their
// accuracy. The parameter gradients are deterministic column sums (no atomics).
#ifndef VKDREAM_NN_LAYERNORM_H
#define VKDREAM_NN_LAYERNORM_H
#include "vkdream/gpu.h"

// Bytes of scratch vkd_layernorm_backward needs for the parameter gradients (0 for few rows).
uint64_t vkd_layernorm_backward_scratch_bytes(uint32_t N, uint32_t C);

// out = layernorm(inp), saving the per-row mean and rstd for the backward. weight, bias
// may be 0 (elementwise_affine=False). out may equal inp.
void vkd_layernorm_forward(vkd_stream* s, vkd_addr out, // (N, C)
                           vkd_addr mean,               // (N)
                           vkd_addr rstd,               // (N)
                           vkd_addr inp,                // (N, C)
                           vkd_addr weight,             // (C) or 0
                           vkd_addr bias,               // (C) or 0
                           uint32_t N, uint32_t C, float eps);
// dinp += dL/dinp, dweight += dL/dweight, dbias += dL/dbias; any of them may be 0.
// scratch: vkd_layernorm_backward_scratch_bytes(N, C) bytes, 4-byte aligned (0 allowed
// when that is 0 or when dweight and dbias are both 0).
void vkd_layernorm_backward(vkd_stream* s, vkd_addr dinp, // (N, C) or 0
                            vkd_addr dweight,             // (C) or 0
                            vkd_addr dbias,               // (C) or 0
                            vkd_addr scratch,             // (vkd_layernorm_backward_scratch_bytes(N, C),) bytes
                            vkd_addr dout,                // (N, C)
                            vkd_addr inp,                 // (N, C)
                            vkd_addr weight,              // (C) or 0
                            vkd_addr mean,                // (N) from the forward
                            vkd_addr rstd,                // (N) from the forward
                            uint32_t N, uint32_t C);

// Float64 references, same argument order without the stream and the scratch.
void vkd_ref_layernorm_forward(double* out, double* mean, double* rstd, const double* inp, const double* weight,
                               const double* bias, uint64_t N, uint64_t C, double eps);
void vkd_ref_layernorm_backward(double* dinp, double* dweight, double* dbias, const double* dout, const double* inp,
                                const double* weight, const double* mean, const double* rstd, uint64_t N, uint64_t C);

#endif
