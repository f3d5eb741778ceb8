// Float64 reference of the background's spherical-harmonics encoding.
#include "vkdream/nerf.h"

void vkd_ref_nerf_sh_encode(double* out, const double* dirs, uint64_t n) {
    for (uint64_t i = 0; i < n; i++) {
        double x = dirs[3 * i], y = dirs[3 * i + 1], z = dirs[3 * i + 2];
        double* o = out + 9 * i;
        o[0] = 0.28209479177387814;
        o[1] = -0.48860251190291987 * y;
        o[2] = 0.48860251190291987 * z;
        o[3] = -0.48860251190291987 * x;
        o[4] = 1.0925484305920792 * x * y;
        o[5] = -1.0925484305920792 * y * z;
        o[6] = 0.94617469575755997 * z * z - 0.31539156525251999;
        o[7] = -1.0925484305920792 * x * z;
        o[8] = 0.54627421529603959 * (x * x - y * y);
    }
}
