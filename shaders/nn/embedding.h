// Push constants of the embedding lookup: out[i, :] = table[ids[i], :] with ids clamped
// to [0, vocab - 1] on the device (the host validates ids it knows; see
// vkd_embedding_check_ids), and its deterministic scatter-add backward.
#ifndef VKD_SHADERS_NN_EMBEDDING_H
#define VKD_SHADERS_NN_EMBEDDING_H
#include "common.h"

VKD_PUSH_BEGIN(vkd_embedding_push)
    uint64_t dst;     // forward: out (n, c); backward: dtable (vocab, c) +=
    uint64_t src;     // forward: table (vocab, c); backward: dout (n, c)
    uint64_t ids;     // (n,) int32
    uint32_t n;
    uint32_t c;
    uint32_t vocab;
VKD_PUSH_END(vkd_embedding_push)

#endif
