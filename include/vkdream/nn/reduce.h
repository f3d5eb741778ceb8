// Reductions, fp32, deterministic (fixed summation order for given sizes, no atomics):
// the sum and the mean of all elements, column sums of an (N, C) matrix (bias
// gradients), and the MSE loss mean((a - b)^2), with their backward broadcasts.
// Full reductions take at most two passes: up to 1024 workgroups of 256 invocations
// (16-byte loads when aligned) write partial sums, then one workgroup adds them; sized
// to keep a GPU's memory system busy for n up to ~1e8.
#ifndef VKDREAM_NN_REDUCE_H
#define VKDREAM_NN_REDUCE_H
#include "vkdream/gpu.h"

// Bytes of scratch the full reductions (sum, mean, MSE loss) of n elements need: 0 when
// one workgroup does it all (n <= 4096), at most 4 KiB.
uint64_t vkd_sum_scratch_bytes(uint32_t n);
// Bytes of scratch vkd_sum_rows_forward needs for an (N, C) matrix (0 for few rows).
uint64_t vkd_sum_rows_scratch_bytes(uint32_t N, uint32_t C);

// Scratch arguments: at least the bytes the matching *_scratch_bytes returns, 4-byte
// aligned (16-byte aligned is faster); 0 is allowed when that is 0. Contents need not be
// kept. With accumulate, the result is added to what out holds instead of replacing it.

// out = sum of inp (0 for n = 0).
void vkd_sum_forward(vkd_stream* s, vkd_addr out, // (1,)
                     vkd_addr scratch,            // (vkd_sum_scratch_bytes(n),) bytes
                     vkd_addr inp,                // (n,)
                     uint32_t n, bool accumulate);
// dinp[i] += dout[0].
void vkd_sum_backward(vkd_stream* s, vkd_addr dinp, // (n,)
                      vkd_addr dout,                // (1,)
                      uint32_t n);
// out = sum of inp / n (NaN for n = 0, as PyTorch).
void vkd_mean_forward(vkd_stream* s, vkd_addr out, // (1,)
                      vkd_addr scratch,            // (vkd_sum_scratch_bytes(n),) bytes
                      vkd_addr inp,                // (n,)
                      uint32_t n, bool accumulate);
// dinp[i] += dout[0] / n.
void vkd_mean_backward(vkd_stream* s, vkd_addr dinp, // (n,)
                       vkd_addr dout,                // (1,)
                       uint32_t n);
// out[c] = sum over rows r of inp[r, c] (column sums; the bias gradient of a linear layer
// is vkd_sum_rows_forward(dbias, scratch, dout, N, C, true)).
void vkd_sum_rows_forward(vkd_stream* s, vkd_addr out, // (C,)
                          vkd_addr scratch,            // (vkd_sum_rows_scratch_bytes(N, C),) bytes
                          vkd_addr inp,                // (N, C)
                          uint32_t N, uint32_t C, bool accumulate);
// dinp[r, c] += dout[c].
void vkd_sum_rows_backward(vkd_stream* s, vkd_addr dinp, // (N, C)
                           vkd_addr dout,                // (C,)
                           uint32_t N, uint32_t C);
// loss = mean((a - b)^2) (PyTorch's mse_loss, reduction 'mean'; NaN for n = 0).
void vkd_mse_loss_forward(vkd_stream* s, vkd_addr loss, // (1,)
                          vkd_addr scratch,             // (vkd_sum_scratch_bytes(n),) bytes
                          vkd_addr a,                   // (n,)
                          vkd_addr b,                   // (n,)
                          uint32_t n);
// da += 2 (a - b) / n * dloss[0], db -= the same; da or db may be 0 (not needed).
void vkd_mse_loss_backward(vkd_stream* s, vkd_addr da, // (n,) or 0
                           vkd_addr db,                // (n,) or 0
                           vkd_addr dloss,             // (1,)
                           vkd_addr a,                 // (n,)
                           vkd_addr b,                 // (n,)
                           uint32_t n);

// Float64 references, same argument order without the stream and the scratch.
void vkd_ref_sum_forward(double* out, const double* inp, uint64_t n, bool accumulate);
void vkd_ref_sum_backward(double* dinp, const double* dout, uint64_t n);
void vkd_ref_mean_forward(double* out, const double* inp, uint64_t n, bool accumulate);
void vkd_ref_mean_backward(double* dinp, const double* dout, uint64_t n);
void vkd_ref_sum_rows_forward(double* out, const double* inp, uint64_t N, uint64_t C, bool accumulate);
void vkd_ref_sum_rows_backward(double* dinp, const double* dout, uint64_t N, uint64_t C);
void vkd_ref_mse_loss_forward(double* loss, const double* a, const double* b, uint64_t n);
void vkd_ref_mse_loss_backward(double* da, double* db, const double* dloss, const double* a, const double* b,
                               uint64_t n);

#endif
