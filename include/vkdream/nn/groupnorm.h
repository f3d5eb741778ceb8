// GroupNorm on NCHW tensors, fp32, PyTorch semantics (nn.GroupNorm(G, C, eps), biased
// variance over each group of C / G channels x H x W values, eps inside the square root),
// optionally followed by a fused SiLU (the UNet's GroupNorm -> SiLU):
//   y = (x - mean[b, g]) * rstd[b, g] * weight[c] + bias[c],  out = silu ? y * sigmoid(y) : y.
// Statistics come from corrected two-pass sums (per group, or per channel merged
// exactly), so inputs with |mean| >> std (mean 1e3, std 0.1) keep their accuracy; the
// float32 mean that is saved and used is within about half an ulp of the true mean (as
// in PyTorch, that rounding shifts out by up to ulp(mean) / 2 * rstd * |weight|). All
// reductions are deterministic (fixed orders, no atomics).
#ifndef VKDREAM_NN_GROUPNORM_H
#define VKDREAM_NN_GROUPNORM_H
#include "vkdream/gpu.h"

// Bytes of scratch vkd_groupnorm_backward needs: (2 B C + 2 B G) floats.
uint64_t vkd_groupnorm_backward_scratch_bytes(uint32_t B, uint32_t C, uint32_t G);

// out = groupnorm(inp) (then SiLU when silu), saving mean and rstd per (b, g) for the
// backward. G must divide C. weight, bias may be 0 (affine=False). out may equal inp
// (or must not overlap it). Large groups of images of 3 or more pixels use out as
// scratch for per-channel statistics before writing it.
void vkd_groupnorm_forward(vkd_stream* s, vkd_addr out, // (B, C, H, W)
                           vkd_addr mean,               // (B, G)
                           vkd_addr rstd,               // (B, G)
                           vkd_addr inp,                // (B, C, H, W)
                           vkd_addr weight,             // (C) or 0
                           vkd_addr bias,               // (C) or 0
                           uint32_t B, uint32_t C, uint32_t H, uint32_t W, uint32_t G, float eps, bool silu);
// dinp += dL/dinp, dweight += dL/dweight, dbias += dL/dbias (any may be 0) given dout =
// dL/dout, from the forward's inputs and saved statistics (bias is read only with silu,
// to recompute the SiLU's input). scratch: vkd_groupnorm_backward_scratch_bytes(B, C, G)
// bytes, 4-byte aligned.
void vkd_groupnorm_backward(vkd_stream* s, vkd_addr dinp, // (B, C, H, W) or 0
                            vkd_addr dweight,             // (C) or 0
                            vkd_addr dbias,               // (C) or 0
                            vkd_addr scratch,             // (vkd_groupnorm_backward_scratch_bytes(B, C, G),) bytes
                            vkd_addr dout,                // (B, C, H, W)
                            vkd_addr inp,                 // (B, C, H, W)
                            vkd_addr weight,              // (C) or 0
                            vkd_addr bias,                // (C) or 0
                            vkd_addr mean,                // (B, G) from the forward
                            vkd_addr rstd,                // (B, G) from the forward
                            uint32_t B, uint32_t C, uint32_t H, uint32_t W, uint32_t G, bool silu);

// Float64 references, same argument order without the stream and the scratch (C % G must be 0).
void vkd_ref_groupnorm_forward(double* out, double* mean, double* rstd, const double* inp, const double* weight,
                               const double* bias, uint32_t B, uint32_t C, uint32_t H, uint32_t W, uint32_t G,
                               double eps, bool silu);
void vkd_ref_groupnorm_backward(double* dinp, double* dweight, double* dbias, const double* dout, const double* inp,
                                const double* weight, const double* bias, const double* mean, const double* rstd,
                                uint32_t B, uint32_t C, uint32_t H, uint32_t W, uint32_t G, bool silu);

#endif
