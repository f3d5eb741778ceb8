#include "vkdream/nn/embedding.h"
#include "nn/embedding.h"
#include "vkd_shaders.h"

static bool dims_ok(vkd_stream* s, const char* fn, uint32_t n, uint32_t vocab, uint32_t c) {
    if (vocab == 0 || vocab > (uint32_t)INT32_MAX) {
        vkd_stream_fail(s, VKD_ERR_INVALID, "%s: vocab is %u; it must be in 1..%d", fn, vocab, INT32_MAX);
        return false;
    }
    if ((uint64_t)n * c >= ((uint64_t)1 << 32) || (uint64_t)vocab * c >= ((uint64_t)1 << 32)) {
        vkd_stream_fail(s, VKD_ERR_INVALID, "%s: n %u / vocab %u x c %u exceeds the 32-bit index range", fn, n, vocab,
                        c);
        return false;
    }
    return true;
}

void vkd_embedding_forward(vkd_stream* s, vkd_addr out, vkd_addr ids, vkd_addr table, uint32_t n, uint32_t vocab,
                           uint32_t c) {
    if (!dims_ok(s, "embedding_forward", n, vocab, c) || n == 0 || c == 0) return;
    vkd_embedding_push p = {.dst = out, .src = table, .ids = ids, .n = n, .c = c, .vocab = vocab};
    vkd_stream_dispatch_1d(s, VKD_KERNEL(nn_embedding_fwd), &p, sizeof p, (uint64_t)n * c, 256);
}

void vkd_embedding_backward(vkd_stream* s, vkd_addr dtable, vkd_addr dout, vkd_addr ids, uint32_t n, uint32_t vocab,
                            uint32_t c) {
    if (!dims_ok(s, "embedding_backward", n, vocab, c) || n == 0 || c == 0 || !dtable) return;
    vkd_embedding_push p = {.dst = dtable, .src = dout, .ids = ids, .n = n, .c = c, .vocab = vocab};
    // x: 64-channel blocks; y: rows, at most 1024 groups (the kernel strides over the
    // rest; more would not help: the O(n^2) id scan dominates for large n anyway).
    uint32_t gx = (c + 63) / 64, gy = n < 1024 ? n : 1024;
    vkd_stream_dispatch(s, VKD_KERNEL(nn_embedding_bwd), &p, sizeof p, gx, gy, 1);
}

vkd_status vkd_embedding_check_ids(const int32_t* ids, uint32_t n, uint32_t vocab, vkd_error* err) {
    for (uint32_t i = 0; i < n; i++)
        if (ids[i] < 0 || (uint32_t)ids[i] >= vocab)
            return vkd_error_set(err, VKD_ERR_INVALID,
                                 "embedding: token id %d at position %u is outside the vocabulary [0, %u); check the "
                                 "tokenizer matches the model",
                                 ids[i], i, vocab);
    return VKD_OK;
}
