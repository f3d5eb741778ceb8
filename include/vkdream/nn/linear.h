// Fully connected layer with PyTorch's weight layout: out = inp @ weight^T + bias.
// Runs on the batched GEMM (vkdream/nn/matmul.h): the forward is one GEMM with the bias
// fused, the backward two GEMMs (dinp = dout @ weight, dweight = dout^T @ inp) and a column
// sum for dbias.
#ifndef VKDREAM_NN_LINEAR_H
#define VKDREAM_NN_LINEAR_H
#include "vkdream/gpu.h"

// out = inp @ weight^T + bias (bias = 0: none). weight_f16: the weight is stored as fp16 (a
// frozen weight, vkd_params_is_f16), widened to fp32 as it is read.
void vkd_linear_forward(vkd_stream* s, vkd_addr out, // (N, OC)
                        vkd_addr inp,                // (N, C)
                        vkd_addr weight,             // (OC, C)
                        vkd_addr bias,               // (OC,) or 0
                        uint32_t N, uint32_t C, uint32_t OC, bool weight_f16);
// Accumulates dinp += dout @ weight, dweight += dout^T @ inp, dbias += sum over N of dout;
// each is skipped when its address is 0. An fp16 weight (weight_f16) has no gradient.
void vkd_linear_backward(vkd_stream* s, vkd_addr dinp, // (N, C)
                         vkd_addr dweight,             // (OC, C)
                         vkd_addr dbias,               // (OC,)
                         vkd_addr dout,                // (N, OC)
                         vkd_addr inp,                 // (N, C)
                         vkd_addr weight,              // (OC, C)
                         uint32_t N, uint32_t C, uint32_t OC, bool weight_f16);

// Float64 references, same meaning and argument order (NULL stands for address 0).
// Reference of vkd_linear_forward.
void vkd_ref_linear_forward(double* out,          // (N, OC)
                            const double* inp,    // (N, C)
                            const double* weight, // (OC, C)
                            const double* bias,   // (OC,) or NULL
                            uint32_t N, uint32_t C, uint32_t OC);
// Reference of vkd_linear_backward (accumulates; NULL gradients are skipped).
void vkd_ref_linear_backward(double* dinp,         // (N, C)
                             double* dweight,      // (OC, C)
                             double* dbias,        // (OC,)
                             const double* dout,   // (N, OC)
                             const double* inp,    // (N, C)
                             const double* weight, // (OC, C)
                             uint32_t N, uint32_t C, uint32_t OC);

#endif
