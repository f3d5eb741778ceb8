// The built-in prior's tokenizer files as a library function (the same files tools/prior_vocab
// writes), so tests and the trainer can make them without the tool.
#define _POSIX_C_SOURCE 200809L
#include "vkdream/prior/builtin.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

// GPT-2's byte alphabet: printable bytes map to themselves, the rest to U+0100 and up.
static void byte_symbol(int b, char out[8]) {
    int n = 0, cp = -1;
    for (int i = 0; i <= b; i++) {
        bool printable = (i >= '!' && i <= '~') || (i >= 0xA1 && i <= 0xAC) || (i >= 0xAE && i <= 0xFF);
        if (i == b) cp = printable ? i : 256 + n;
        if (!printable) n++;
    }
    if (cp < 0x80) out[0] = (char)cp, out[1] = 0;
    else out[0] = (char)(0xC0 | (cp >> 6)), out[1] = (char)(0x80 | (cp & 0x3F)), out[2] = 0;
}

static const char* const extra_words[] = {"a", "an", "the", "of", "front", "side", "back", "overhead", "view",
                                          "small", "large", "shiny", "matte", "object", "photo", "3d", "render"};

typedef struct vocab {
    cJSON* json;
    int next_id;
    FILE* merges;
} vocab;

static void add_token(vocab* v, const char* tok) {
    if (!cJSON_GetObjectItemCaseSensitive(v->json, tok)) cJSON_AddNumberToObject(v->json, tok, v->next_id++);
}

// Merges that build `word` left to right, the last symbol carrying </w>.
static void add_word(vocab* v, const char* word) {
    size_t n = strlen(word);
    if (n < 2 || n > 64) return;  // single characters are base symbols; caption words are short
    char left[600], merged[600], right[16], sym[8];
    byte_symbol((unsigned char)word[0], sym);
    snprintf(left, sizeof left, "%s", sym);
    for (size_t i = 1; i < n; i++) {
        byte_symbol((unsigned char)word[i], sym);
        snprintf(right, sizeof right, "%s%s", sym, i + 1 == n ? "</w>" : "");
        size_t ll = strlen(left), rl = strlen(right);
        memcpy(merged, left, ll);
        memcpy(merged + ll, right, rl + 1);
        if (!cJSON_GetObjectItemCaseSensitive(v->json, merged)) {
            fprintf(v->merges, "%s %s\n", left, right);
            add_token(v, merged);
        }
        memcpy(left, merged, ll + rl + 1);
    }
}

static vkd_status write_text(const char* path, const char* text, vkd_error* err) {
    FILE* f = fopen(path, "w");
    bool ok = f && fputs(text, f) >= 0;
    if (f) ok = (fclose(f) == 0) && ok;
    return ok ? VKD_OK : vkd_error_set(err, VKD_ERR_IO, "cannot write %s: %s", path, strerror(errno));
}

vkd_status vkd_builtin_write_vocab(const char* dir, int* ntokens, vkd_error* err) {
    if (mkdir(dir, 0755) && errno != EEXIST)
        return vkd_error_set(err, VKD_ERR_IO, "cannot create folder %s: %s", dir, strerror(errno));
    char path[4200];
    snprintf(path, sizeof path, "%s/merges.txt", dir);
    vocab v = {.json = cJSON_CreateObject()};
    v.merges = fopen(path, "w");
    if (!v.merges || !v.json) {
        if (v.merges) fclose(v.merges);
        cJSON_Delete(v.json);
        return vkd_error_set(err, VKD_ERR_IO, "cannot write %s: %s", path, strerror(errno));
    }
    fprintf(v.merges, "#version: 0.2\n");
    char sym[8], tok[16];
    for (int b = 0; b < 256; b++) byte_symbol(b, sym), add_token(&v, sym);
    for (int b = 0; b < 256; b++) byte_symbol(b, sym), snprintf(tok, sizeof tok, "%s</w>", sym), add_token(&v, tok);
    for (int c = 0; c < VKD_COLOR_COUNT; c++) add_word(&v, vkd_shape_color_name((vkd_shape_color)c));
    for (int s = 0; s < VKD_SHAPE_COUNT; s++) add_word(&v, vkd_shape_name((vkd_shape)s));
    for (size_t i = 0; i < sizeof extra_words / sizeof extra_words[0]; i++) add_word(&v, extra_words[i]);
    add_token(&v, "<|startoftext|>");
    add_token(&v, "<|endoftext|>");
    vkd_status st = fclose(v.merges) ? vkd_error_set(err, VKD_ERR_IO, "cannot write %s: %s", path, strerror(errno))
                                     : VKD_OK;
    char* json = cJSON_PrintUnformatted(v.json);
    if (!st) {
        snprintf(path, sizeof path, "%s/vocab.json", dir);
        st = json ? write_text(path, json, err) : vkd_error_set(err, VKD_ERR_OUT_OF_MEMORY, "out of host memory");
    }
    if (!st) {
        snprintf(path, sizeof path, "%s/tokenizer_config.json", dir);
        st = write_text(path,
                        "{\"model_max_length\": 16, \"bos_token\": \"<|startoftext|>\", "
                        "\"eos_token\": \"<|endoftext|>\", \"pad_token\": \"<|endoftext|>\", "
                        "\"unk_token\": \"<|endoftext|>\", \"do_lower_case\": true}\n",
                        err);
    }
    if (ntokens) *ntokens = v.next_id;
    free(json);
    cJSON_Delete(v.json);
    return st;
}
