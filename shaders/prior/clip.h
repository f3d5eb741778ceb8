#include "common.h"

VKD_PUSH_BEGIN(vkd_clip_pool_push)
    uint64_t dst;        // (B, C) pooled rows
    uint64_t src;        // (B, T, C) hidden states
    uint64_t ids;        // (B, T) int32
    uint64_t pos;        // (B,) int32 chosen positions, or 0
    uint32_t B, T, C;
    int32_t eos_id;      // the id to look for; < 0: the first position of the largest id
VKD_PUSH_END(vkd_clip_pool_push)
