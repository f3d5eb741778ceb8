// Push constants of the broadcasting binary ops: out = a op b where b (1 or the same
// size in each of 4 dimensions) is broadcast over a. The host canonicalises the shapes
// first: size-1 dimensions are dropped and neighbours with the same broadcast status are
// merged, leaving at most 4 alternating dimensions (at most 2 kept, 2 broadcast).
#ifndef VKD_SHADERS_NN_BROADCAST_H
#define VKD_SHADERS_NN_BROADCAST_H
#include "common.h"

// Forward (out = a op b) and the a-side backward (da += dout (* b)).
VKD_PUSH_BEGIN(vkd_broadcast_push)
    uint64_t dst;     // (n,) forward: out; backward: da
    uint64_t a;       // (n,) forward: a; backward: dout
    uint64_t b;       // (numel of b,)
    uint32_t n;       // elements of a
    uint32_t s0, s1, s2, s3;   // canonical dims of a, outermost first (padded with 1)
    uint32_t bs0, bs1, bs2, bs3; // b's element stride per dim; 0 where b is broadcast
VKD_PUSH_END(vkd_broadcast_push)

// The b-side backward: db[e] += sum over the broadcast dims of dout (* a).
// Work group: TX db elements (spec constant 0) x TY reduction lanes (spec constant 1),
// TX * TY = 256, reduced in shared memory in a fixed order (deterministic).
VKD_PUSH_BEGIN(vkd_broadcast_reduce_push)
    uint64_t db;      // (e_count,) +=
    uint64_t dout;    // (n,) with a's layout
    uint64_t a;       // (n,) read for mul only
    uint32_t e_count; // elements of b
    uint32_t r_count; // elements summed into each (k0 * k1 * r0 * r1 = n)
    uint32_t k1;      // kept dims (outer k0 = e_count / k1) and their strides in a
    uint32_t ks0, ks1;
    uint32_t r1;      // broadcast dims (outer r0 = r_count / r1) and their strides in a
    uint32_t rs0, rs1;
    float sign;       // -1 for sub
VKD_PUSH_END(vkd_broadcast_reduce_push)

#endif
