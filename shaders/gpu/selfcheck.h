#include "common.h"

VKD_PUSH_BEGIN(vkd_selfcheck_push)
    uint64_t y;      // (n,) y = 2 x + 1, then one word: the subgroup size the kernel saw
    uint64_t x;      // (n,)
    uint32_t n;
VKD_PUSH_END(vkd_selfcheck_push)
