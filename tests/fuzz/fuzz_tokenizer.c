// libFuzzer target for the CLIP tokenizer's text path: any byte string is a prompt. Invalid
// UTF-8 is decoded with each ill-formed sequence replaced by U+FFFD, which the clean-up drops
// (so it never reaches BPE); NUL bytes, which would end a C string, are fed as U+0001 (also
// dropped). Never crash, and the ids must be consistent across the API.
// Uses the real 49408-token vocabulary from the sd-tiny fixtures ($VKD_FIXTURES, default
// VKD_SOURCE_DIR/../shared/fixtures/sd-tiny).
// Build: clang -fsanitize=fuzzer,address,undefined -Iinclude -Isrc -DVKD_SOURCE_DIR=\"$PWD\"
//        src/prior/tokenizer.c src/prior/tokenizer_encode.c src/gpu/error.c
//        tests/fuzz/fuzz_tokenizer.c -lcjson -lutf8proc -lm
// Run:   ./fuzz_tokenizer tests/fuzz/corpus/tokenizer
#include "vkdream/tokenizer.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#ifndef VKD_SOURCE_DIR
#define VKD_SOURCE_DIR "."
#endif

static vkd_tokenizer* tok;
static vkd_tokenizer_info info;

// A failed promise the sanitizers would not notice on their own.
static void require(bool ok) {
    if (!ok) abort();
}

int LLVMFuzzerInitialize(int* argc, char*** argv);
int LLVMFuzzerInitialize(int* argc, char*** argv) {
    (void)argc;
    (void)argv;
    const char* fixtures = getenv("VKD_FIXTURES");
    if (!fixtures || !*fixtures) fixtures = VKD_SOURCE_DIR "/../shared/fixtures/sd-tiny";
    char dir[1024];
    snprintf(dir, sizeof dir, "%s/tokenizer", fixtures);
    vkd_error err = {0};
    if (vkd_tokenizer_load_dir(dir, &tok, &err)) {
        fprintf(stderr, "fuzz_tokenizer: %s (set VKD_FIXTURES to the sd-tiny fixtures)\n", err.msg);
        exit(1);
    }
    info = vkd_tokenizer_get_info(tok);
    return 0;
}

static bool valid_utf8(const unsigned char* s) {
    while (*s) {
        unsigned char c = *s;
        int len = c < 0x80 ? 1 : c >= 0xC2 && c <= 0xDF ? 2 : c >= 0xE0 && c <= 0xEF ? 3 : c >= 0xF0 && c <= 0xF4 ? 4 : 0;
        if (!len) return false;
        for (int i = 1; i < len; i++)
            if ((s[i] & 0xC0) != 0x80) return false;
        if ((c == 0xE0 && s[1] < 0xA0) || (c == 0xED && s[1] > 0x9F) || (c == 0xF0 && s[1] < 0x90) ||
            (c == 0xF4 && s[1] > 0x8F))
            return false;
        s += len;
    }
    return true;
}

static char* decode_all(const int32_t* ids, int n, bool skip_special) {
    size_t len = vkd_tokenizer_decode(tok, ids, n, skip_special, NULL, 0);
    char* text = malloc(len + 1);
    require(text != NULL);
    require(vkd_tokenizer_decode(tok, ids, n, skip_special, text, len + 1) == len && strlen(text) == len);
    require(valid_utf8((const unsigned char*)text));
    return text;
}

int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    char* text = malloc(size + 1);
    require(text != NULL);
    bool ascii = true;
    for (size_t i = 0; i < size; i++) {
        text[i] = data[i] ? (char)data[i] : '\x01';
        ascii &= data[i] < 0x80;
    }
    text[size] = '\0';

    int n = vkd_tokenizer_encode(tok, text, NULL, 0);
    require(n >= 2);
    int32_t* ids = malloc((size_t)n * sizeof *ids);
    require(ids != NULL);
    require(vkd_tokenizer_encode(tok, text, ids, n) == n);
    require(ids[0] == info.bos_id && ids[n - 1] == info.eos_id);
    for (int i = 0; i < n; i++) require(vkd_tokenizer_token(tok, ids[i]) != NULL);

    // The padded form is the unpadded one cut to max_length - 2 tokens.
    int max_len = info.max_length;
    int32_t* padded = malloc((size_t)max_len * sizeof *padded);
    require(padded != NULL);
    int n_tokens = -1;
    bool truncated = false;
    vkd_error err = {0};
    require(vkd_tokenizer_encode_padded(tok, text, padded, &n_tokens, &truncated, &err) == VKD_OK);
    require(truncated == (n > max_len) && n_tokens == (n < max_len ? n : max_len));
    require(memcmp(padded, ids, (size_t)(n_tokens - 1) * sizeof *ids) == 0 && padded[n_tokens - 1] == info.eos_id);
    for (int i = n_tokens; i < max_len; i++) require(padded[i] == info.pad_id);

    char msg[512];
    size_t mlen = vkd_tokenizer_truncation_message(tok, text, msg, sizeof msg);
    require(truncated ? mlen > 0 : mlen == 0 && msg[0] == '\0');

    // For ASCII input the decoded text is already normalised, so it encodes back to the same
    // ids (specials included; decode keeps a space after every word).
    char* decoded = decode_all(ids, n, false);
    if (ascii) {
        int n2 = vkd_tokenizer_encode(tok, decoded, NULL, 0);
        require(n2 == n + 2);  // decode kept BOS/EOS as text: they come back inside new ones
        int32_t* ids2 = malloc((size_t)n2 * sizeof *ids2);
        require(ids2 != NULL);
        require(vkd_tokenizer_encode(tok, decoded, ids2, n2) == n2);
        require(memcmp(ids2 + 1, ids, (size_t)n * sizeof *ids) == 0);
        free(ids2);
    }
    free(decoded);
    free(decode_all(ids, n, true));

    free(padded);
    free(ids);
    free(text);
    return 0;
}
