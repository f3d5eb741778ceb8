#version 450
#extension GL_GOOGLE_include_directive : require
#include "common.glsl"
#include "field/occgrid.h"
layout(local_size_x = OCCGRID_WG) in;
layout(push_constant) uniform Push { vkd_occgrid_update_push p; };

void main() {
    uint c = vkd_global_id();
    if (c >= p.cells) return;
    uint m = u32(p.cell_max).v[c];
    if (m == 0u) return;
    f32 D = f32(p.density);
    D.v[c] = max(D.v[c] * p.decay, uintBitsToFloat(m - 1u));
    u32(p.cell_max).v[c] = 0u;  // ready for the next update, without a separate clearing pass
}
