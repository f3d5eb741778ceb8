// Spherical-harmonics encoding of ray directions for the NeRF background (shaders/field/nerf_sh.comp).
#include "vkdream/nerf.h"
#include "field/nerf.h"
#include "vkd_shaders.h"

void vkd_nerf_sh_encode(vkd_stream* s, vkd_addr out, vkd_addr dirs, uint32_t n) {
    if (!n) return;
    if (!out || !dirs) {
        vkd_stream_fail(s, VKD_ERR_INVALID, "nerf_sh_encode: out and dirs must be set (n = %u)", n);
        return;
    }
    if ((uint64_t)n * VKD_NERF_SH_DIM >= (1ull << 32)) {
        vkd_stream_fail(s, VKD_ERR_INVALID, "nerf_sh_encode: n = %u directions exceed 32-bit indexing", n);
        return;
    }
    vkd_nerf_sh_push p = {.dst = out, .dirs = dirs, .n = n};
    vkd_stream_dispatch_1d(s, VKD_KERNEL(field_nerf_sh), &p, sizeof p, n, NERF_WG);
}
