// Softmax over the last dimension of an (N, C) matrix, fp32, PyTorch semantics
// (torch.softmax(scale * inp, dim=-1)), numerically stable (max-subtracted), with an
// optional causal mask for attention: the rows form (C, C) blocks and in row r = row % C
// the columns c > r are -inf (their output is 0). -inf inputs give 0 like PyTorch; a row
// that is all -inf gives NaN, also like PyTorch.
#ifndef VKDREAM_NN_SOFTMAX_H
#define VKDREAM_NN_SOFTMAX_H
#include "vkdream/gpu.h"

// out = softmax(scale * inp) per row (scale 1 for the plain softmax). out may equal inp.
void vkd_softmax_forward(vkd_stream* s, vkd_addr out, // (N, C)
                         vkd_addr inp,                // (N, C)
                         uint32_t N, uint32_t C, float scale, bool causal);
// dinp += scale * out * (dout - sum(dout * out, row)), from the forward's out (the mask
// needs no argument: masked outputs are 0).
void vkd_softmax_backward(vkd_stream* s, vkd_addr dinp, // (N, C)
                          vkd_addr dout,                // (N, C)
                          vkd_addr out,                 // (N, C) of vkd_softmax_forward
                          uint32_t N, uint32_t C, float scale);

// Float64 references, same argument order.
void vkd_ref_softmax_forward(double* out, const double* inp, uint64_t N, uint64_t C, double scale, bool causal);
void vkd_ref_softmax_backward(double* dinp, const double* dout, const double* out, uint64_t N, uint64_t C,
                              double scale);

#endif
