#include "common.h"

VKD_PUSH_BEGIN(vkd_fill_push)
    uint64_t dst;    // (count,) 32-bit words
    uint64_t src;    // copy only: (count,) words
    uint32_t count;
    uint32_t value;  // fill only
VKD_PUSH_END(vkd_fill_push)
