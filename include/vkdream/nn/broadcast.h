// Broadcasting binary ops: out = a op b where b broadcasts over a, in a general 4-D
// form. Every dimension of b is either a's size or 1, e.g. an NCHW tensor with a
// (1, C, 1, 1) bias or an (N, C, 1, 1) time embedding, or (B, T, C) with (1, 1, C).
// Fewer dimensions: pad both shapes with leading 1s. fp32, row-major.
#ifndef VKDREAM_NN_BROADCAST_H
#define VKDREAM_NN_BROADCAST_H
#include "vkdream/gpu.h"
#include "vkdream/nn/eltwise.h"  // vkd_binary_op

// out = a op b (add, sub: a - b, mul); out may alias a, not b.
void vkd_broadcast_forward(vkd_stream* s, vkd_addr out, // a_shape
                           vkd_addr a,                  // a_shape
                           vkd_addr b,                  // b_shape
                           const uint32_t a_shape[4], const uint32_t b_shape[4], vkd_binary_op op);
// da += dout (* b), db += (+-) sum over the broadcast dimensions of dout (* a), summed in a
// fixed order (no atomics: bit-reproducible). da or db may be 0 (not needed); a is read
// for mul's db only, b for mul's da only.
void vkd_broadcast_backward(vkd_stream* s, vkd_addr da, // a_shape
                            vkd_addr db,                // b_shape
                            vkd_addr dout,              // a_shape
                            vkd_addr a,                 // a_shape
                            vkd_addr b,                 // b_shape
                            const uint32_t a_shape[4], const uint32_t b_shape[4], vkd_binary_op op);

// Float64 references, same argument order. Shapes are not validated here.
void vkd_ref_broadcast_forward(double* out, const double* a, const double* b, const uint32_t a_shape[4],
                               const uint32_t b_shape[4], vkd_binary_op op);
void vkd_ref_broadcast_backward(double* da, double* db, const double* dout, const double* a, const double* b,
                                const uint32_t a_shape[4], const uint32_t b_shape[4], vkd_binary_op op);

#endif
