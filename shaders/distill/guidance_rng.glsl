// Counter-based normals for the distillation noise: a pure function of (seed, index), so no
// RNG state lives on the device and a seeded run is reproducible on any device. Mirrored on
// the host (integers bit for bit, Box-Muller in double) by vkd_ref_guidance_noise.

// PCG-RXS-M-XS hash (Jarzynski and Olano, "Hash Functions for GPU Rendering", 2020).
uint guidance_pcg(uint v) {
    uint state = v * 747796405u + 2891336453u;
    uint word = ((state >> ((state >> 28u) + 4u)) ^ state) * 277803737u;
    return (word >> 22u) ^ word;
}

// Uniform in (0, 1) with 24 random bits centered in their bucket (log never sees 0).
float guidance_uniform(uint key, uint pair, uint k) {
    uint h = guidance_pcg(guidance_pcg(key + pair) + k);
    return (float(h >> 8u) + 0.5) * (1.0 / 16777216.0);
}

// Normal number `index` of the stream `key`: Box-Muller on the uniforms of pair index / 2,
// the cosine branch for even indices and the sine branch for odd ones. The angle is taken in
// [-pi, pi) (cos(a + pi) = -cos(a)), the range where Vulkan bounds sin / cos precision.
float guidance_normal(uint key, uint index) {
    const float tau = 6.283185307179586, pi = 3.141592653589793;
    uint pair = index >> 1u;
    float r = sqrt(-2.0 * log(guidance_uniform(key, pair, 0u)));
    float a = tau * guidance_uniform(key, pair, 1u) - pi;
    return (index & 1u) != 0u ? -r * sin(a) : -r * cos(a);
}
