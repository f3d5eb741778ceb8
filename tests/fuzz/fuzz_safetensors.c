// libFuzzer target for the safetensors parser: any byte string must either open into a
// table whose every tensor reads back in bounds, or fail with a message; never crash.
// Build: clang -fsanitize=fuzzer,address,undefined -Iinclude src/nn/safetensors.c src/gpu/error.c
//        tests/fuzz/fuzz_safetensors.c -lcjson -lm
// Run:   ./fuzz_safetensors tests/fuzz/corpus/safetensors
#include "vkdream/safetensors.h"

#include <stdlib.h>
#include <string.h>

// A failed promise the sanitizers would not notice on their own.
static void require(bool ok) {
    if (!ok) abort();
}

static void exercise(const vkd_safetensors* st) {
    size_t n = vkd_safetensors_count(st);
    for (size_t i = 0; i < n; i++) {
        const vkd_tensor_info* t = vkd_safetensors_at(st, i);
        require(t && vkd_safetensors_find(st, t->name) == t);
        require(t->nbytes == t->numel * vkd_dtype_size(t->dtype));
        size_t count = (size_t)t->numel;
        float* f = malloc(count * sizeof *f + 1);
        uint16_t* h = malloc(count * sizeof *h + 1);
        vkd_error err;
        require(vkd_safetensors_read_f32(st, t->name, f, count, &err) == VKD_OK);
        require(vkd_safetensors_read_f16(st, t->name, h, count, &err) == VKD_OK);
        require(vkd_safetensors_read_f32(st, t->name, f, count + 1, &err) == VKD_ERR_INVALID);
        require(vkd_safetensors_expect(st, t->name, t->ndim, t->shape, NULL, &err) == VKD_OK);
        free(f);
        free(h);
    }
    require(vkd_safetensors_at(st, n) == NULL);
    for (size_t i = 0; i < vkd_safetensors_metadata_count(st); i++) {
        const char* key = NULL;
        const char* value = vkd_safetensors_metadata_at(st, i, &key);
        require(value && key && vkd_safetensors_metadata(st, key) != NULL);
    }
}

int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    vkd_safetensors* st = NULL;
    vkd_error err = {0};
    vkd_status s = vkd_safetensors_open_memory(data, size, &st, &err);
    if (s) {
        require(st == NULL && err.status == s && strlen(err.msg) > 0 && !strncmp(err.msg, "<memory>: ", 10));
        return 0;
    }
    exercise(st);
    vkd_safetensors_close(st);
    return 0;
}
