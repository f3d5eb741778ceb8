// Writes the built-in prior's tokenizer: a CLIP-format byte-level BPE vocabulary
// (vocab.json + merges.txt + tokenizer_config.json) whose merges spell every caption word
// of the procedural dataset as one token. Any other text still tokenizes (down to bytes).
//
//   prior_vocab OUT_DIR        (assets/builtin/tokenizer in the shipped model)
#define _POSIX_C_SOURCE 200809L
#include "vkdream/shapes.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

// GPT-2's byte alphabet: printable bytes map to themselves, the rest to U+0100 and up.
static void byte_symbol(int b, char out[8]) {
    static int table[256];
    static int ready = 0;
    if (!ready) {
        int n = 0;
        for (int i = 0; i < 256; i++) {
            bool printable = (i >= '!' && i <= '~') || (i >= 0xA1 && i <= 0xAC) || (i >= 0xAE && i <= 0xFF);
            table[i] = printable ? i : 256 + n++;
        }
        ready = 1;
    }
    int cp = table[b];
    if (cp < 0x80) out[0] = (char)cp, out[1] = 0;
    else out[0] = (char)(0xC0 | (cp >> 6)), out[1] = (char)(0x80 | (cp & 0x3F)), out[2] = 0;
}

static const char* extra_words[] = {"a", "an", "the", "of", "front", "side", "back", "overhead", "view",
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
    if (n < 2) return;  // single characters are base symbols
    char left[300] = "";
    char sym[8];
    byte_symbol((unsigned char)word[0], sym);
    snprintf(left, sizeof left, "%s", sym);
    for (size_t i = 1; i < n; i++) {
        char right[16];
        byte_symbol((unsigned char)word[i], sym);
        snprintf(right, sizeof right, "%s%s", sym, i + 1 == n ? "</w>" : "");
        char merged[300];
        size_t ll = strlen(left), rl = strlen(right);
        if (ll + rl + 1 > sizeof merged) return;  // caption words are short; never happens
        memcpy(merged, left, ll);
        memcpy(merged + ll, right, rl + 1);
        if (!cJSON_GetObjectItemCaseSensitive(v->json, merged)) {
            fprintf(v->merges, "%s %s\n", left, right);
            add_token(v, merged);
        }
        snprintf(left, sizeof left, "%s", merged);
    }
}

static int write_text(const char* path, const char* text) {
    FILE* f = fopen(path, "w");
    if (!f || fputs(text, f) < 0 || fclose(f)) {
        fprintf(stderr, "prior_vocab: cannot write %s: %s\n", path, strerror(errno));
        return 1;
    }
    return 0;
}

int main(int argc, char** argv) {
    if (argc != 2 || !strcmp(argv[1], "--help")) {
        fprintf(argc == 2 ? stdout : stderr, "usage: prior_vocab OUT_DIR\n"
                "Writes vocab.json, merges.txt and tokenizer_config.json of the built-in prior's\n"
                "tokenizer (CLIP byte-level BPE format; one token per caption word).\n");
        return argc == 2 ? 0 : 2;
    }
    const char* dir = argv[1];
    mkdir(dir, 0755);
    char path[4096];
    snprintf(path, sizeof path, "%s/merges.txt", dir);
    vocab v = {.json = cJSON_CreateObject()};
    v.merges = fopen(path, "w");
    if (!v.merges) {
        fprintf(stderr, "prior_vocab: cannot write %s: %s\n", path, strerror(errno));
        return 1;
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
    int bad = fclose(v.merges) != 0;
    char* json = cJSON_PrintUnformatted(v.json);
    snprintf(path, sizeof path, "%s/vocab.json", dir);
    bad |= write_text(path, json);
    snprintf(path, sizeof path, "%s/tokenizer_config.json", dir);
    bad |= write_text(path, "{\"model_max_length\": 16, \"bos_token\": \"<|startoftext|>\", "
                            "\"eos_token\": \"<|endoftext|>\", \"pad_token\": \"<|endoftext|>\", "
                            "\"unk_token\": \"<|endoftext|>\", \"do_lower_case\": true}\n");
    printf("prior_vocab: %d tokens in %s\n", v.next_id, dir);
    free(json);
    cJSON_Delete(v.json);
    return bad;
}
