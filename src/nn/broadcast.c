#include "vkdream/nn/broadcast.h"
#include "nn/broadcast.h"
#include "vkd_shaders.h"

// a's shape with size-1 dimensions dropped and neighbours of the same kind (broadcast
// in b or not) merged; padded at the front with kept size-1 dimensions to 4.
typedef struct canon {
    uint32_t size[4];
    bool bcast[4];
    uint64_t n;        // elements of a
    uint64_t e_count;  // elements of b
} canon;

static bool canonicalize(vkd_stream* s, const char* fn, const uint32_t a[4], const uint32_t b[4], canon* c) {
    uint32_t size[4];
    bool bc[4];
    int m = 0;
    c->n = 1;
    c->e_count = 1;
    for (int i = 0; i < 4; i++) {
        if (b[i] != a[i] && b[i] != 1) {
            vkd_stream_fail(s, VKD_ERR_INVALID,
                            "%s: b_shape[%d] = %u must equal a_shape[%d] = %u or be 1 (a %ux%ux%ux%u, b %ux%ux%ux%u)", fn,
                            i, b[i], i, a[i], a[0], a[1], a[2], a[3], b[0], b[1], b[2], b[3]);
            return false;
        }
        c->n *= a[i];
        c->e_count *= b[i];
        if (a[i] == 1) continue;
        bool bi = b[i] == 1;
        if (m > 0 && bc[m - 1] == bi) {
            size[m - 1] *= a[i];
        } else {
            size[m] = a[i];
            bc[m] = bi;
            m++;
        }
    }
    if (c->n >= ((uint64_t)1 << 32)) {
        vkd_stream_fail(s, VKD_ERR_INVALID, "%s: a has %llu elements, more than the 32-bit index range", fn,
                        (unsigned long long)c->n);
        return false;
    }
    int pad = 4 - m;
    for (int i = 0; i < 4; i++) {
        c->size[i] = i < pad ? 1 : size[i - pad];
        c->bcast[i] = i < pad ? false : bc[i - pad];
    }
    return true;
}

static vkd_broadcast_push elementwise_push(const canon* c) {
    vkd_broadcast_push p = {.n = (uint32_t)c->n,
                            .s0 = c->size[0], .s1 = c->size[1], .s2 = c->size[2], .s3 = c->size[3]};
    uint32_t bs[4], stride = 1;
    for (int i = 3; i >= 0; i--) {
        bs[i] = c->bcast[i] ? 0 : stride;
        if (!c->bcast[i]) stride *= c->size[i];
    }
    p.bs0 = bs[0], p.bs1 = bs[1], p.bs2 = bs[2], p.bs3 = bs[3];
    return p;
}

static bool op_ok(vkd_stream* s, const char* fn, vkd_binary_op op) {
    if ((unsigned)op < VKD_BINARY_COUNT) return true;
    vkd_stream_fail(s, VKD_ERR_INVALID, "%s: op %d is not a vkd_binary_op (0..%d)", fn, (int)op, VKD_BINARY_COUNT - 1);
    return false;
}

void vkd_broadcast_forward(vkd_stream* s, vkd_addr out, vkd_addr a, vkd_addr b, const uint32_t a_shape[4],
                           const uint32_t b_shape[4], vkd_binary_op op) {
    canon c;
    if (!op_ok(s, "broadcast_forward", op) || !canonicalize(s, "broadcast_forward", a_shape, b_shape, &c)) return;
    if (c.n == 0) return;
    vkd_broadcast_push p = elementwise_push(&c);
    p.dst = out, p.a = a, p.b = b;
    vkd_stream_dispatch_1d(s, VKD_KERNEL_SPEC(nn_broadcast_fwd, (uint32_t)op), &p, sizeof p, c.n, 256);
}

static uint32_t pow2_at_least(uint64_t x, uint32_t cap) {
    uint32_t p = 1;
    while (p < x && p < cap) p *= 2;
    return p;
}

void vkd_broadcast_backward(vkd_stream* s, vkd_addr da, vkd_addr db, vkd_addr dout, vkd_addr a, vkd_addr b,
                            const uint32_t a_shape[4], const uint32_t b_shape[4], vkd_binary_op op) {
    canon c;
    if (!op_ok(s, "broadcast_backward", op) || !canonicalize(s, "broadcast_backward", a_shape, b_shape, &c)) return;
    if (op == VKD_BINARY_MUL && ((da && !b) || (db && !a))) {
        vkd_stream_fail(s, VKD_ERR_INVALID, "broadcast_backward: mul needs b for da and a for db (got a=%s, b=%s)",
                        a ? "set" : "0", b ? "set" : "0");
        return;
    }
    if (c.n == 0) return;
    if (da) {
        vkd_broadcast_push p = elementwise_push(&c);
        p.dst = da, p.a = dout, p.b = b;
        vkd_stream_dispatch_1d(s, VKD_KERNEL_SPEC(nn_broadcast_bwd_a, (uint32_t)op), &p, sizeof p, c.n, 256);
    }
    if (!db) return;
    // Kept and broadcast dimensions (at most two of each after merging), with a's strides.
    uint32_t ks[2] = {0, 0}, ksz[2] = {1, 1}, rs[2] = {0, 0}, rsz[2] = {1, 1};
    int nk = 0, nr = 0;
    uint32_t stride = 1;
    for (int i = 3; i >= 0; i--) {
        if (c.size[i] == 1) continue;
        if (c.bcast[i]) rsz[nr] = c.size[i], rs[nr] = stride, nr++;
        else ksz[nk] = c.size[i], ks[nk] = stride, nk++;
        stride *= c.size[i];
    }
    // Index 0 was filled innermost-first: the push wants (outer, inner).
    uint64_t r_count = (uint64_t)rsz[0] * rsz[1];
    vkd_broadcast_reduce_push p = {
        .db = db, .dout = dout, .a = a, .e_count = (uint32_t)c.e_count, .r_count = (uint32_t)r_count,
        .k1 = ksz[0], .ks0 = ks[1], .ks1 = ks[0], .r1 = rsz[0], .rs0 = rs[1], .rs1 = rs[0],
        .sign = op == VKD_BINARY_SUB ? -1.0f : 1.0f};
    // Coalescing: when the innermost dimension is broadcast, neighbouring lanes of one
    // column read neighbouring addresses, so give the reduction all the lanes it can use;
    // otherwise neighbouring columns are neighbouring addresses.
    bool inner_reduced = c.bcast[3] && c.size[3] > 1;
    uint32_t tx, ty;
    if (inner_reduced) {
        ty = pow2_at_least(r_count, 64);
        tx = 256 / ty;
    } else {
        tx = pow2_at_least(c.e_count, 64);
        ty = 256 / tx;
    }
    uint64_t groups = (c.e_count + tx - 1) / tx;
    vkd_stream_dispatch_1d(s, VKD_KERNEL_SPEC(nn_broadcast_bwd_b, tx, ty, (uint32_t)op), &p, sizeof p, groups * 256,
                           256);
}
