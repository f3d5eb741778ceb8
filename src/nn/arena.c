// Bump allocator over device chunks; see include/vkdream/nn/arena.h.
#include "vkdream/nn/arena.h"

#include <string.h>

#define ARENA_ALIGN 256

static size_t align_up(size_t v) { return (v + ARENA_ALIGN - 1) & ~(size_t)(ARENA_ALIGN - 1); }

// The largest chunk: the device's allocation limit, and at most 1 GiB while growing.
static uint64_t chunk_limit(const vkd_arena* a, bool growing) {
    uint64_t cap = vkd_gpu_get_info(a->gpu)->max_allocation_bytes;
    if (!cap) cap = (uint64_t)1 << 30;
    if (growing && cap > ((uint64_t)1 << 30)) cap = (uint64_t)1 << 30;
    return cap;
}

vkd_addr vkd_arena_alloc(vkd_arena* a, vkd_stream* s, uint64_t count) {
    size_t bytes = align_up((size_t)(count ? count : 1) * sizeof(float));
    size_t chunk = a->chunk_bytes ? a->chunk_bytes : ((size_t)64 << 20);
    // First fit from the current chunk on: earlier chunks are full (or released by a pop,
    // in which case `current` already points back at them).
    for (uint32_t c = a->current; c < a->nchunks; c++) {
        if (a->used[c] + bytes <= a->chunks[c].size) {
            vkd_addr addr = a->chunks[c].addr + a->used[c];
            a->used[c] += bytes;
            a->current = c;
            a->live_bytes += bytes;
            if (a->live_bytes > a->peak_bytes) a->peak_bytes = a->live_bytes;
            return addr;
        }
        // Moving past a chunk leaves its tail unused until the next reset/pop.
    }
    if (a->nchunks == VKD_ARENA_MAX_CHUNKS) {
        vkd_stream_fail(s, VKD_ERR_OUT_OF_MEMORY, "arena: more than %d chunks needed (asked %zu bytes, %zu live)",
                        VKD_ARENA_MAX_CHUNKS, bytes, a->live_bytes);
        return 0;
    }
    // Each new chunk is twice the previous one (up to 1 GiB or the device's allocation
    // limit): a deep pass that saves gigabytes (SD's UNet backward at 64x64 latents) needs a
    // handful of chunks, so little is lost in chunk tails, and chunks above half a memory
    // block get blocks of their own (no block fragmentation); small models keep one small chunk.
    uint64_t cap = chunk_limit(a, true);
    uint64_t grown = (uint64_t)chunk << (a->nchunks < 20 ? a->nchunks : 20);
    if (grown > cap) grown = cap > chunk ? cap : chunk;
    vkd_error err = {0};
    uint32_t c = a->nchunks;
    if (vkd_buffer_alloc(a->gpu, bytes > grown ? bytes : (size_t)grown, &a->chunks[c], &err)) {
        vkd_stream_fail(s, err.status, "arena: %s", err.msg);
        return 0;
    }
    a->used[c] = 0;
    a->nchunks++;
    // Chunks past `current` are empty, so the new one is reached by the loop next time.
    a->current = c;
    return vkd_arena_alloc(a, s, count);
}

vkd_addr vkd_arena_zeros(vkd_arena* a, vkd_stream* s, uint64_t count) {
    vkd_addr addr = vkd_arena_alloc(a, s, count);
    if (addr) vkd_stream_fill(s, addr, (uint32_t)count, 0);
    return addr;
}

vkd_arena_mark vkd_arena_push(const vkd_arena* a) {
    return (vkd_arena_mark){.current = a->current,
                            .used = a->nchunks ? a->used[a->current] : 0,
                            .live_bytes = a->live_bytes};
}

void vkd_arena_pop(vkd_arena* a, vkd_arena_mark m) {
    if (!a->nchunks) return;
    for (uint32_t c = m.current + 1; c < a->nchunks; c++) a->used[c] = 0;
    a->used[m.current] = m.used;
    a->current = m.current;
    a->live_bytes = m.live_bytes;
}

void vkd_arena_reset(vkd_arena* a) {
    for (uint32_t c = 0; c < a->nchunks; c++) a->used[c] = 0;
    a->current = 0;
    a->live_bytes = 0;
}

void vkd_arena_compact(vkd_arena* a) {
    if (a->nchunks <= 1 || a->live_bytes) return;
    size_t chunk = a->chunk_bytes ? a->chunk_bytes : ((size_t)64 << 20);
    size_t need = align_up(a->peak_bytes > chunk ? a->peak_bytes : chunk);
    if (need > chunk_limit(a, false)) return;  // more than one allocation: keep the chunks
    for (uint32_t c = 0; c < a->nchunks; c++) vkd_buffer_free(a->gpu, &a->chunks[c]);
    a->nchunks = 0;
    a->current = 0;
    vkd_error err = {0};
    // On failure the arena is empty and grows again on demand, reporting then.
    if (!vkd_buffer_alloc(a->gpu, need, &a->chunks[0], &err)) {
        a->used[0] = 0;
        a->nchunks = 1;
    }
}

void vkd_arena_free(vkd_arena* a) {
    for (uint32_t c = 0; c < a->nchunks; c++) vkd_buffer_free(a->gpu, &a->chunks[c]);
    a->nchunks = 0;
    a->current = 0;
    a->live_bytes = 0;
}
