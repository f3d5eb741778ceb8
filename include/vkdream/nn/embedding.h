// Embedding lookup (token and position embeddings): ids (n,) int32 into table
// (vocab, c). The kernels clamp ids to [0, vocab - 1], so a bad id never reads or
// writes out of bounds; validate ids on the host with vkd_embedding_check_ids where
// they are known (a clamped id is a wrong result, not a crash).
#ifndef VKDREAM_NN_EMBEDDING_H
#define VKDREAM_NN_EMBEDDING_H
#include "vkdream/gpu.h"

// out[i, :] = table[ids[i], :]
void vkd_embedding_forward(vkd_stream* s, vkd_addr out, // (n, c)
                           vkd_addr ids,                // (n,) int32
                           vkd_addr table,              // (vocab, c)
                           uint32_t n, uint32_t vocab, uint32_t c);
// dtable[ids[i], :] += dout[i, :] for every i; repeated ids are summed in index order,
// deterministically (no atomics). O(n^2) id comparisons: for prompt-sized n.
void vkd_embedding_backward(vkd_stream* s, vkd_addr dtable, // (vocab, c)
                            vkd_addr dout,                  // (n, c)
                            vkd_addr ids,                   // (n,) int32
                            uint32_t n, uint32_t vocab, uint32_t c);
// VKD_ERR_INVALID naming the first id outside [0, vocab) and its position.
vkd_status vkd_embedding_check_ids(const int32_t* ids, uint32_t n, uint32_t vocab, vkd_error* err);

// Float64 references, same argument order; ids are clamped as on the GPU.
void vkd_ref_embedding_forward(double* out, const int32_t* ids, const double* table, uint64_t n, uint64_t vocab,
                               uint64_t c);
void vkd_ref_embedding_backward(double* dtable, const double* dout, const int32_t* ids, uint64_t n, uint64_t vocab,
                                uint64_t c);

#endif
