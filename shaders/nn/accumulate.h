#include "common.h"

VKD_PUSH_BEGIN(vkd_accumulate_push)
    uint64_t dst;    // (n,) dst += alpha * src
    uint64_t src;    // (n,)
    uint32_t n;
    float alpha;
VKD_PUSH_END(vkd_accumulate_push)
