// Push constants of the channel concat / slice kernel, NCHW fp32.
#include "common.h"

// dst[b, dst_c0 + c, i] (= or +=) src[b, src_c0 + c, i] for c < count, i < HW.
// Grid: (ceil(HW / 256), count, batches); batches past the grid's z extent are looped over.
VKD_PUSH_BEGIN(vkd_concat_copy_push)
    uint64_t dst;
    uint64_t src;
    uint32_t B, count, HW;
    uint32_t dst_C, dst_c0;   // channels of dst and where the window starts
    uint32_t src_C, src_c0;
    uint32_t accumulate;      // 0: dst = src, 1: dst += src
VKD_PUSH_END(vkd_concat_copy_push)
