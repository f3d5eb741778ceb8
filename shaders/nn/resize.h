// Push constants of the resize kernels (nearest 2x upsample, bilinear resize), NCHW fp32.
#include "common.h"

// Images are BC = B*C planes of H x W (source) and OH x OW (destination). The grid is
// (x chunks, rows, planes); planes past the grid's z extent are looped over.
VKD_PUSH_BEGIN(vkd_resize_push)
    uint64_t dst;
    uint64_t src;
    uint32_t BC;
    uint32_t H, W;     // the small / input side (see each kernel)
    uint32_t OH, OW;   // the output side of the forward op
VKD_PUSH_END(vkd_resize_push)
