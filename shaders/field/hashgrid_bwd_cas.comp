#version 450
#extension GL_GOOGLE_include_directive : require
#include "common.glsl"
#include "field/hashgrid.h"

// Devices without float atomics: a compare-and-swap loop on the float's bits.
void hg_atomic_add(uint64_t addr, uint index, float value) {
    u32 b = u32(addr);
    uint old = b.v[index];
    for (;;) {
        uint seen = atomicCompSwap(b.v[index], old, floatBitsToUint(uintBitsToFloat(old) + value));
        if (seen == old) break;
        old = seen;
    }
}

#include "field/hashgrid_bwd_body.glsl"
