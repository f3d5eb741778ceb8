#version 450
#extension GL_GOOGLE_include_directive : require
#include "common.glsl"
#include "field/hashgrid.h"

// The three elementwise steps of the finite-difference density gradient (see field/hashgrid.h).
layout(local_size_x = HASHGRID_WG) in;
layout(push_constant) uniform Push { vkd_hashgrid_fd_push p; };

void main() {
    uint i = vkd_global_id();
    if (i >= p.n) return;
    f32 S = f32(p.src);
    f32 D = f32(p.dst);
    if (p.mode == HASHGRID_FD_POINTS) {
        vec3 x = vec3(S.v[3 * i], S.v[3 * i + 1], S.v[3 * i + 2]);
        for (uint k = 0; k < 3; k++)
            for (uint side = 0; side < 2; side++) {
                vec3 y = x;
                y[k] += side == 0 ? p.eps : -p.eps;
                y = clamp(y, vec3(-p.bound), vec3(p.bound));
                uint row = 6 * i + 2 * k + side;
                D.v[3 * row] = y.x;
                D.v[3 * row + 1] = y.y;
                D.v[3 * row + 2] = y.z;
            }
    } else if (p.mode == HASHGRID_FD_COMBINE) {
        for (uint k = 0; k < 3; k++) D.v[3 * i + k] = (S.v[6 * i + 2 * k] - S.v[6 * i + 2 * k + 1]) * (0.5 / p.eps);
    } else {
        for (uint k = 0; k < 3; k++) {
            float g = S.v[3 * i + k] * (0.5 / p.eps);
            D.v[6 * i + 2 * k] = g;
            D.v[6 * i + 2 * k + 1] = -g;
        }
    }
}
