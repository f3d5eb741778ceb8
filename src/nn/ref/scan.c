#include "vkdream/nn/scan.h"

void vkd_ref_scan_exclusive_u32(uint32_t* out, const uint32_t* in, uint64_t n) {
    uint32_t run = 0;  // unsigned wrap-around is the defined mod 2^32 the GPU also computes
    for (uint64_t i = 0; i < n; i++) {
        uint32_t v = in[i];  // read first: out may alias in
        out[i] = run;
        run += v;
    }
    out[n] = run;
}
