#include "vkdream/nn/broadcast.h"

// Offset of a's element (i0, i1, i2, i3) in b: broadcast dimensions contribute nothing.
static uint64_t b_offset(const uint32_t b[4], const uint64_t idx[4]) {
    uint64_t off = 0;
    for (int d = 0; d < 4; d++) off = off * b[d] + (b[d] == 1 ? 0 : idx[d]);
    return off;
}

static double apply(vkd_binary_op op, double x, double y) {
    return op == VKD_BINARY_ADD ? x + y : op == VKD_BINARY_SUB ? x - y : x * y;
}

void vkd_ref_broadcast_forward(double* out, const double* a, const double* b, const uint32_t a_shape[4],
                               const uint32_t b_shape[4], vkd_binary_op op) {
    uint64_t idx[4], i = 0;
    for (idx[0] = 0; idx[0] < a_shape[0]; idx[0]++)
        for (idx[1] = 0; idx[1] < a_shape[1]; idx[1]++)
            for (idx[2] = 0; idx[2] < a_shape[2]; idx[2]++)
                for (idx[3] = 0; idx[3] < a_shape[3]; idx[3]++, i++)
                    out[i] = apply(op, a[i], b[b_offset(b_shape, idx)]);
}

void vkd_ref_broadcast_backward(double* da, double* db, const double* dout, const double* a, const double* b,
                                const uint32_t a_shape[4], const uint32_t b_shape[4], vkd_binary_op op) {
    uint64_t idx[4], i = 0;
    for (idx[0] = 0; idx[0] < a_shape[0]; idx[0]++)
        for (idx[1] = 0; idx[1] < a_shape[1]; idx[1]++)
            for (idx[2] = 0; idx[2] < a_shape[2]; idx[2]++)
                for (idx[3] = 0; idx[3] < a_shape[3]; idx[3]++, i++) {
                    uint64_t bo = b_offset(b_shape, idx);
                    if (da) da[i] += op == VKD_BINARY_MUL ? dout[i] * b[bo] : dout[i];
                    if (db) db[bo] += op == VKD_BINARY_MUL ? dout[i] * a[i] : op == VKD_BINARY_SUB ? -dout[i] : dout[i];
                }
}
