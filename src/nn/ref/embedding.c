#include "vkdream/nn/embedding.h"

static uint64_t row_of(int32_t id, uint64_t vocab) {
    return id < 0 ? 0 : (uint64_t)id >= vocab ? vocab - 1 : (uint64_t)id;
}

void vkd_ref_embedding_forward(double* out, const int32_t* ids, const double* table, uint64_t n, uint64_t vocab,
                               uint64_t c) {
    for (uint64_t i = 0; i < n; i++) {
        uint64_t r = row_of(ids[i], vocab);
        for (uint64_t j = 0; j < c; j++) out[i * c + j] = table[r * c + j];
    }
}

void vkd_ref_embedding_backward(double* dtable, const double* dout, const int32_t* ids, uint64_t n, uint64_t vocab,
                                uint64_t c) {
    for (uint64_t i = 0; i < n; i++) {
        uint64_t r = row_of(ids[i], vocab);
        for (uint64_t j = 0; j < c; j++) dtable[r * c + j] += dout[i * c + j];
    }
}
