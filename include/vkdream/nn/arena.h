// vkdream arenas: bump allocation of device scratch for one forward/backward pass.
//
// A model's forward allocates its intermediate activations here (and keeps the addresses
// its backward needs); the caller resets the arena when the pass's results are no longer
// needed. Chunks are device buffers that are kept across resets, so a steady-state
// training step allocates no device memory. Allocation happens while recording: a
// failure fails the stream (nothing is submitted) and returns address 0.
#ifndef VKDREAM_NN_ARENA_H
#define VKDREAM_NN_ARENA_H

#include "vkdream/gpu.h"

#ifdef __cplusplus
extern "C" {
#endif

#define VKD_ARENA_MAX_CHUNKS 64

typedef struct vkd_arena {
    vkd_gpu* gpu;
    size_t chunk_bytes;                  // 0 = 64 MiB; larger requests get a chunk of their own size;
                                         // chunk sizes double every 8 chunks (up to 1 GiB)
    vkd_buffer chunks[VKD_ARENA_MAX_CHUNKS];
    size_t used[VKD_ARENA_MAX_CHUNKS];   // bytes used per chunk
    uint32_t nchunks;
    uint32_t current;                    // chunk allocations go to
    size_t live_bytes, peak_bytes;       // bytes handed out since reset / maximum over resets
} vkd_arena;

typedef struct vkd_arena_mark {
    uint32_t current;
    size_t used;
    size_t live_bytes;
} vkd_arena_mark;

// Zero-initialise the struct, set .gpu (and optionally .chunk_bytes), then allocate.
// Returns a 256-byte aligned device address of `count` floats (contents undefined), or 0 after
// failing the stream with an out-of-memory error that says how much was asked.
vkd_addr vkd_arena_alloc(vkd_arena* a, vkd_stream* s, uint64_t count);
// Same, and records a zero fill.
vkd_addr vkd_arena_zeros(vkd_arena* a, vkd_stream* s, uint64_t count);
// Stack discipline: everything allocated after the mark is released by vkd_arena_pop.
// Only safe once the stream that used those addresses has been submitted, or when the
// released memory is reused by work later in the same stream (streams run in order).
vkd_arena_mark vkd_arena_push(const vkd_arena* a);
void vkd_arena_pop(vkd_arena* a, vkd_arena_mark m);
void vkd_arena_reset(vkd_arena* a);
// After a reset, when the passes so far spilled over several chunks: replaces them with one
// chunk of the peak size (when one allocation can hold it), so repeated passes of the same
// shape hold exactly what they use, without the tails and growth of the first pass. Only
// when no recorded or running work uses the arena's memory (right after a submit).
void vkd_arena_compact(vkd_arena* a);
void vkd_arena_free(vkd_arena* a);

#ifdef __cplusplus
}
#endif
#endif
