#include "common.h"

VKD_PUSH_BEGIN(vkd_prior_axpby_push)
    uint64_t dst;    // (n,) dst = a x + c y + d (+ dst when accumulate != 0)
    uint64_t x;      // (n,)
    uint64_t y;      // (n,) or 0
    uint32_t n;
    uint32_t accumulate;
    float a;
    float c;
    float d;
VKD_PUSH_END(vkd_prior_axpby_push)
