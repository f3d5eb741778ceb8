// Shared by the compositing forward and backward: both walk a ray's samples with the same
// operations, so the backward stops at exactly the sample where the forward terminated.

// alpha = 1 - exp(-x) without the cancellation of 1 - e for small x (a fourth-order series
// there: its error is below x^5 / 120, far under float rounding for |x| < 1e-2).
float volrend_alpha(float x, float e) {
    if (abs(x) < 1e-2) return x * (1.0 - x * (0.5 - x * (1.0 / 6.0 - x * (1.0 / 24.0))));
    return 1.0 - e;
}

vec3 load3(uint64_t a, uint i) {
    f32 b = f32(a);
    return vec3(b.v[3 * i], b.v[3 * i + 1], b.v[3 * i + 2]);
}

void add3(uint64_t a, uint i, vec3 v) {
    f32 b = f32(a);
    b.v[3 * i] += v.x;
    b.v[3 * i + 1] += v.y;
    b.v[3 * i + 2] += v.z;
}

// Channel c of pixel `pix` of view `b` in a (B, C, H, W) image.
uint volrend_img(uint b, uint c, uint channels, uint pix, uint rays_per_view) {
    return (b * channels + c) * rays_per_view + pix;
}
