// The seeded host RNG of distillation runs (include/vkdream/guidance.h): splitmix64, keyed
// by (seed, step, stream) so any step's random choices can be regenerated on resume.
#include "vkdream/guidance.h"

#include <math.h>

static uint64_t mix64(uint64_t z) {
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

vkd_rng vkd_rng_for(uint64_t seed, uint64_t step, uint64_t stream) {
    uint64_t k = mix64(seed + 0x9e3779b97f4a7c15ull);
    k = mix64(k ^ (step + 0x632be59bd9b4e019ull));
    k = mix64(k ^ (stream * 0xd6e8feb86659fd93ull + 0x8cb92ba72f3d8dd7ull));
    return (vkd_rng){.state = k};
}

uint64_t vkd_rng_u64(vkd_rng* r) {
    r->state += 0x9e3779b97f4a7c15ull;
    return mix64(r->state);
}

double vkd_rng_uniform(vkd_rng* r) { return (double)(vkd_rng_u64(r) >> 11) * (1.0 / 9007199254740992.0); }

double vkd_rng_normal(vkd_rng* r) {
    // 1 - u is in (0, 1]: log never sees 0.
    double u1 = 1.0 - vkd_rng_uniform(r), u2 = vkd_rng_uniform(r);
    return sqrt(-2.0 * log(u1)) * cos(6.283185307179586 * u2);
}

int32_t vkd_rng_int(vkd_rng* r, int32_t lo, int32_t hi) {
    if (hi <= lo) return lo;
    uint64_t span = (uint64_t)((int64_t)hi - lo) + 1;
    // Rejection keeps every value equally likely.
    uint64_t limit = UINT64_MAX - UINT64_MAX % span;
    uint64_t x;
    do x = vkd_rng_u64(r);
    while (x >= limit);
    return (int32_t)((int64_t)lo + (int64_t)(x % span));
}
