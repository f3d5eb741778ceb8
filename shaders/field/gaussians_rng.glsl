// Counter-based random numbers for the split samples of the densification: a pure function
// of (seed, parent, index), so no RNG state lives on the device and any order of execution
// gives the same result. Mirrored bit for bit (up to the float math of Box-Muller) by
// vkd_ref_gaussians_normal3 in src/field/gaussians_ref.c.

// PCG-RXS-M-XS hash (Jarzynski and Olano, "Hash Functions for GPU Rendering", 2020).
uint gaussians_pcg(uint v) {
    uint state = v * 747796405u + 2891336453u;
    uint word = ((state >> ((state >> 28u) + 4u)) ^ state) * 277803737u;
    return (word >> 22u) ^ word;
}

// Uniform in (0, 1): 24 random bits centered in their bucket, so log() never sees 0 and the
// value is exact in float and double alike.
float gaussians_uniform(uint seed, uint parent, uint j) {
    uint h = gaussians_pcg(gaussians_pcg(gaussians_pcg(seed) + parent) + j);
    return (float(h >> 8u) + 0.5) * (1.0 / 16777216.0);
}

// Three standard normals for child c (0 or 1) of a parent: Box-Muller on four uniforms.
vec3 gaussians_normal3(uint seed, uint parent, uint child) {
    const float tau = 6.283185307179586;
    uint j = child * 4u;
    float r0 = sqrt(-2.0 * log(gaussians_uniform(seed, parent, j)));
    float a0 = tau * gaussians_uniform(seed, parent, j + 1u);
    float r1 = sqrt(-2.0 * log(gaussians_uniform(seed, parent, j + 2u)));
    float a1 = tau * gaussians_uniform(seed, parent, j + 3u);
    return vec3(r0 * cos(a0), r0 * sin(a0), r1 * cos(a1));
}

// Rotation matrix of a quaternion (w, x, y, z) after normalization, as 3DGS's build_rotation;
// a zero quaternion (which 3DGS would turn into NaNs) is taken as the identity.
mat3 gaussians_rotation(vec4 q) {
    float n = length(q);
    if (n == 0.0) return mat3(1.0);
    q /= n;
    float r = q.x, x = q.y, y = q.z, z = q.w;
    // mat3 takes columns.
    return mat3(1.0 - 2.0 * (y * y + z * z), 2.0 * (x * y + r * z), 2.0 * (x * z - r * y),
                2.0 * (x * y - r * z), 1.0 - 2.0 * (x * x + z * z), 2.0 * (y * z + r * x),
                2.0 * (x * z + r * y), 2.0 * (y * z - r * x), 1.0 - 2.0 * (x * x + y * y));
}
