// Private helpers shared by the built-in prior's sources (src/prior/builtin_*.c).
#ifndef VKDREAM_PRIOR_BUILTIN_INTERNAL_H
#define VKDREAM_PRIOR_BUILTIN_INTERNAL_H

#include <math.h>
#include <stdint.h>

// splitmix64 keyed by (seed, index, stream): every random draw of the dataset, the noise and
// the timesteps comes from one of these, so example i is the same whoever asks for it.
typedef struct bi_rng {
    uint64_t s;
} bi_rng;

static inline uint64_t bi_mix(uint64_t z) {
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}
static inline bi_rng bi_rng_for(uint64_t seed, uint64_t index, uint64_t stream) {
    bi_rng r = {bi_mix(bi_mix(seed + 0x9E3779B97F4A7C15ull) ^ (index * 0xD1B54A32D192ED03ull)) ^
                (stream * 0x8CB92BA72F3D8DD7ull)};
    return r;
}
static inline uint64_t bi_u64(bi_rng* r) { return bi_mix(r->s += 0x9E3779B97F4A7C15ull); }
static inline double bi_uniform(bi_rng* r) { return (double)(bi_u64(r) >> 11) * (1.0 / 9007199254740992.0); }
static inline double bi_range(bi_rng* r, const float lohi[2]) {
    return lohi[0] + (lohi[1] - lohi[0]) * bi_uniform(r);
}
// N(0, 1) by Box-Muller (one value per call: simple and deterministic).
static inline double bi_normal(bi_rng* r) {
    double u1 = bi_uniform(r), u2 = bi_uniform(r);
    if (u1 < 1e-300) u1 = 1e-300;
    return sqrt(-2.0 * log(u1)) * cos(6.283185307179586 * u2);
}

// Streams of an example's rng.
enum { BI_STREAM_DATA = 1, BI_STREAM_NOISE = 2, BI_STREAM_TIME = 3, BI_STREAM_INIT = 4, BI_STREAM_SAMPLE = 5 };

#endif
