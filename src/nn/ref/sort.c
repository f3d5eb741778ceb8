// Bottom-up merge sort: stable by construction (ties take the left run first), so it is
// the ground truth for the GPU radix sort's order among equal keys.
#include "vkdream/nn/sort.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static uint64_t mask_of(uint32_t key_bits) { return key_bits >= 64 ? ~0ull : (1ull << key_bits) - 1; }

// Sorts an index permutation by masked key, then applies it to keys and values.
static void sort_perm(const uint64_t* masked, uint64_t n, uint64_t* perm) {
    uint64_t* tmp = malloc((n ? n : 1) * sizeof *tmp);
    if (!tmp) {
        fprintf(stderr, "vkd_ref_sort: out of host memory\n");
        abort();
    }
    for (uint64_t i = 0; i < n; i++) perm[i] = i;
    for (uint64_t width = 1; width < n; width *= 2) {
        for (uint64_t lo = 0; lo < n; lo += 2 * width) {
            uint64_t mid = lo + width < n ? lo + width : n;
            uint64_t hi = lo + 2 * width < n ? lo + 2 * width : n;
            uint64_t a = lo, b = mid, o = lo;
            while (a < mid && b < hi) tmp[o++] = masked[perm[b]] < masked[perm[a]] ? perm[b++] : perm[a++];
            while (a < mid) tmp[o++] = perm[a++];
            while (b < hi) tmp[o++] = perm[b++];
        }
        memcpy(perm, tmp, n * sizeof *perm);
    }
    free(tmp);
}

static void sort_any(void* keys, size_t key_size, uint32_t* values, uint64_t n, uint32_t key_bits) {
    uint64_t mask = mask_of(key_bits);
    uint64_t* masked = malloc((n ? n : 1) * sizeof *masked);
    uint64_t* perm = malloc((n ? n : 1) * sizeof *perm);
    unsigned char* kcopy = malloc((n ? n : 1) * key_size);
    uint32_t* vcopy = malloc((n ? n : 1) * sizeof *vcopy);
    if (!masked || !perm || !kcopy || !vcopy) {
        fprintf(stderr, "vkd_ref_sort: out of host memory\n");
        abort();
    }
    for (uint64_t i = 0; i < n; i++) {
        uint64_t k = key_size == 8 ? ((const uint64_t*)keys)[i] : ((const uint32_t*)keys)[i];
        masked[i] = k & mask;
    }
    sort_perm(masked, n, perm);
    memcpy(kcopy, keys, n * key_size);
    if (values) memcpy(vcopy, values, n * sizeof *vcopy);
    for (uint64_t i = 0; i < n; i++) {
        memcpy((unsigned char*)keys + i * key_size, kcopy + perm[i] * key_size, key_size);
        if (values) values[i] = vcopy[perm[i]];
    }
    free(masked);
    free(perm);
    free(kcopy);
    free(vcopy);
}

void vkd_ref_sort_pairs_u64(uint64_t* keys, uint32_t* values, uint64_t n, uint32_t key_bits) {
    sort_any(keys, 8, values, n, key_bits);
}

void vkd_ref_sort_pairs_u32(uint32_t* keys, uint32_t* values, uint64_t n, uint32_t key_bits) {
    sort_any(keys, 4, values, n, key_bits > 32 ? 32 : key_bits);
}
