// Push constants of the conv2d kernels (NCHW fp32, groups 1, dilation 1).
#include "common.h"

// conv2d_fwd (dst = out, src = inp, bias may be 0) and conv2d_bwd_data
// (dst = dinp, accumulated; src = dout; bias unused). The same implicit GEMM serves
// both: the shader derives its GEMM geometry from these raw conv parameters.
VKD_PUSH_BEGIN(vkd_conv2d_push)
    uint64_t dst;
    uint64_t src;
    uint64_t weight;   // (OC, C, KH, KW)
    uint64_t bias;     // (OC) or 0
    uint32_t B, C, H, W;
    uint32_t OC, OH, OW;
    uint32_t KH, KW;
    int32_t stride_y, stride_x;
    int32_t pad_top, pad_left;
VKD_PUSH_END(vkd_conv2d_push)

// conv2d_bwd_weight: dweight (OC, C, KH, KW) from inp and dout, a GEMM over
// K = B*OH*OW split into gl_NumWorkGroups.z chunks of k_split elements. With one
// chunk it accumulates into dst directly; otherwise chunk z writes its partial
// sums to dst + z*OC*C*KH*KW and conv2d_bwd_weight_sum adds them up in order.
VKD_PUSH_BEGIN(vkd_conv2d_wgrad_push)
    uint64_t dst;
    uint64_t inp;      // (B, C, H, W)
    uint64_t dout;     // (B, OC, OH, OW)
    uint32_t B, C, H, W;
    uint32_t OC, OH, OW;
    uint32_t KH, KW;
    int32_t stride_y, stride_x;
    int32_t pad_top, pad_left;
    uint32_t k_split;  // K elements per chunk
    uint32_t partial;  // 1: write partial sums to dst + z*OC*C*KH*KW; 0: dst += sums
VKD_PUSH_END(vkd_conv2d_wgrad_push)

// conv2d_bwd_weight_sum: dst[i] += sum over s < splits of src[s*n + i], s in order.
VKD_PUSH_BEGIN(vkd_conv2d_sum_push)
    uint64_t dst;
    uint64_t src;
    uint32_t n;
    uint32_t splits;
VKD_PUSH_END(vkd_conv2d_sum_push)

// conv2d_bwd_bias: dbias[oc] += sum over b, pixels of dout[b, oc]; one workgroup per oc.
VKD_PUSH_BEGIN(vkd_conv2d_bgrad_push)
    uint64_t dbias;    // (OC)
    uint64_t dout;     // (B, OC, OH*OW)
    uint32_t B, OC, HW;
VKD_PUSH_END(vkd_conv2d_bgrad_push)
