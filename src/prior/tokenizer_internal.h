// Shared by tokenizer.c (loading, lookups, decode) and tokenizer_encode.c (text -> ids).
#ifndef VKD_TOKENIZER_INTERNAL_H
#define VKD_TOKENIZER_INTERNAL_H

#include "vkdream/tokenizer.h"

// CLIPTokenizer reads merges.txt lines 1 .. 49152 - 256 - 2 and ignores the rest.
#define VKD_TOK_MAX_MERGES (49152 - 256 - 2)
// Ids are array indices; a corrupt vocab.json must not make us allocate gigabytes.
#define VKD_TOK_MAX_ID (1 << 22)
#define VKD_TOK_NO_ID (-1)
// Distinct special strings: bos, eos, unk, pad.
#define VKD_TOK_MAX_SPECIAL 4
// GPT-2's byte alphabet uses code points 0 .. 0x143.
#define VKD_TOK_BYTE_CP_LIMIT 0x144

typedef struct vkd_tok_merge {
    uint64_t pair;   // left id << 32 | right id
    int32_t rank;    // -1 marks an empty slot
    int32_t result;  // id of the joined string
} vkd_tok_merge;

struct vkd_tokenizer {
    char* strings;          // every vocabulary string, NUL-terminated, back to back
    uint32_t* str_off;      // id -> offset into strings; UINT32_MAX for ids with no string
    uint32_t* str_len;      // id -> byte length
    int32_t vocab_size;     // largest id + 1
    int32_t vocab_count;    // ids that have a string
    size_t max_token_len;
    int32_t* vocab_table;   // open addressing, string hash -> id, VKD_TOK_NO_ID = empty
    uint32_t vocab_mask;

    vkd_tok_merge* merges;  // open addressing on pair
    uint32_t merge_mask;
    int32_t num_merges;

    int32_t byte_id[256];       // symbol of a byte inside a word
    int32_t byte_end_id[256];   // the same with "</w>" (a word's last byte)
    uint32_t byte_cp[256];      // byte -> code point of the byte alphabet
    int16_t cp_byte[VKD_TOK_BYTE_CP_LIMIT]; // the inverse, -1 where none

    // Text is split on these strings before anything else (transformers' no-split tokens).
    char* special[VKD_TOK_MAX_SPECIAL];     // longest first, so the split is leftmost-longest
    size_t special_len[VKD_TOK_MAX_SPECIAL];
    int32_t special_id[VKD_TOK_MAX_SPECIAL];
    int n_special;
    // Vocabulary ids of the regex's two literals, "<|startoftext|>" and "<|endoftext|>"
    // (CLIPTokenizer's BPE cache returns them whole); unk when absent.
    int32_t literal_id[2];

    int max_length;
    int32_t bos_id, eos_id, pad_id, unk_id;
};

// Collects ids: stores the first `cap`, counts all.
typedef struct vkd_tok_sink {
    int32_t* ids;
    int cap;
    int count;
    bool failed;  // out of memory or count overflow
} vkd_tok_sink;

// Well-formed UTF-8 (Unicode table 3-7): the length of the sequence at s, or 0 when it is
// ill-formed, with *bad = the length of its maximal ill-formed prefix (>= 1), which Python's
// errors="replace" turns into one U+FFFD.
size_t vkd_tok_utf8_seq(const uint8_t* s, size_t n, size_t* bad);
int32_t vkd_tok_lookup(const vkd_tokenizer* tok, const char* s, size_t len);
const vkd_tok_merge* vkd_tok_find_merge(const vkd_tokenizer* tok, int32_t left, int32_t right);
// Appends the ids of utf8[0 .. len) without BOS/EOS; false when out of memory.
bool vkd_tok_encode_text(const vkd_tokenizer* tok, const char* utf8, size_t len, vkd_tok_sink* sink);

#endif
