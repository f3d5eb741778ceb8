#include "vkdream/nn/accumulate.h"
#include "nn/accumulate.h"
#include "vkd_shaders.h"

void vkd_accumulate(vkd_stream* s, vkd_addr dst, vkd_addr src, float alpha, uint32_t n) {
    vkd_accumulate_push p = {.dst = dst, .src = src, .n = n, .alpha = alpha};
    vkd_stream_dispatch_1d(s, VKD_KERNEL(nn_accumulate), &p, sizeof p, n, 256);
}
