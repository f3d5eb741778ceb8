// vkdream tokenizer: CLIP's byte-level BPE, as Stable Diffusion's text encoders use it.
//
// Token ids equal those of transformers' slow CLIPTokenizer when ftfy is not installed
// (what diffusers runs by default without ftfy), loaded from a diffusers `tokenizer/`
// folder (vocab.json + merges.txt + the two JSON configs). Text goes through:
//   1. a split on the literal special-token strings (bos, eos, unk, pad): each becomes its id
//      (SD2's pad token is "!", so there every "!" becomes id 0, exactly as in transformers);
//   2. per remaining piece, BERT's BasicTokenizer clean-up: NUL, U+FFFD and every category C*
//      character (control, format, unassigned, private use) dropped except tab/CR/LF; all
//      whitespace -> space; spaces around CJK ideographs; NFC; split on whitespace;
//      lower-casing (Python's str.lower, incl. U+0130 and the final-sigma rule); no accent
//      stripping, no punctuation split;
//   3. CLIP's pre-tokenizer regex (<|startoftext|>, <|endoftext|>, 's 't 're 've 'm 'll 'd,
//      letter runs, single digits, runs of other non-space characters), case-insensitive;
//   4. UTF-8 bytes -> GPT-2's byte alphabet, BPE by merge rank with "</w>" on a word's last
//      symbol; strings missing from the vocabulary map to the unk id.
// Input that is not valid UTF-8 is decoded with each invalid byte replaced by U+FFFD, which
// step 2 then drops: the same ids Python gives for bytes.decode("utf-8", errors="replace").
// Unicode tables are utf8proc's (Unicode 15); Python 3.11 uses 14.0, so characters new in
// Unicode 15 are kept here where Python would drop them as unassigned.
//
// A loaded tokenizer is read-only: encode/decode may run on several threads at once.
#ifndef VKDREAM_TOKENIZER_H
#define VKDREAM_TOKENIZER_H

#include "vkdream/base.h"

#ifdef __cplusplus
extern "C" {
#endif

#define VKD_TOKENIZER_DEFAULT_MAX_LENGTH 77

typedef struct vkd_tokenizer vkd_tokenizer;

// Special tokens are given as strings (zero = default) because that is how the diffusers
// configs store them and because the text is split on these strings.
typedef struct vkd_tokenizer_desc {
    const char* vocab_path;   // vocab.json: {"token": id, ...}
    const char* merges_path;  // merges.txt: "a b" per line, by rank; a first line starting with "#version"
                              // is skipped (transformers drops line 1 whatever it holds)
    int max_length;           // conditioning length incl. BOS/EOS; 0 = 77
    const char* bos_token;    // NULL = "<|startoftext|>"
    const char* eos_token;    // NULL = "<|endoftext|>"
    const char* unk_token;    // NULL = "<|endoftext|>"
    const char* pad_token;    // NULL = eos_token (SD1); SD2 and SDXL's second encoder use "!"
} vkd_tokenizer_desc;

typedef struct vkd_tokenizer_info {
    int32_t vocab_size;       // largest id + 1
    int32_t num_merges;       // merge rules in use
    int max_length;
    int32_t bos_id, eos_id, pad_id, unk_id;
} vkd_tokenizer_info;

// Loads the vocabulary and merge rules. Every id of a merge pair and of its result must be in
// the vocabulary, as must the 256 byte symbols (with and without "</w>") and the special
// tokens; errors name the file and line or token. Merges past 48894 are ignored, as
// CLIPTokenizer ignores them.
vkd_status vkd_tokenizer_load(const vkd_tokenizer_desc* desc, vkd_tokenizer** out, vkd_error* err);
// Loads <dir>/vocab.json and <dir>/merges.txt; special tokens and model_max_length come from
// <dir>/tokenizer_config.json, then <dir>/special_tokens_map.json (which wins, as in
// transformers), when those exist. A model_max_length above 1e6 (transformers' "unset") means 77.
vkd_status vkd_tokenizer_load_dir(const char* tokenizer_dir, vkd_tokenizer** out, vkd_error* err);
void vkd_tokenizer_free(vkd_tokenizer* tok);

vkd_tokenizer_info vkd_tokenizer_get_info(const vkd_tokenizer* tok);
// The vocabulary string of an id in the byte alphabet ("photograph</w>", "Ã©"), as
// transformers' convert_ids_to_tokens gives it; NULL for ids outside the vocabulary.
const char* vkd_tokenizer_token(const vkd_tokenizer* tok, int32_t id);
// Vocabulary lookup of one token string; -1 when absent.
int32_t vkd_tokenizer_token_id(const vkd_tokenizer* tok, const char* token);

// BOS + tokens + EOS, not truncated. Writes the first min(count, cap) ids (ids may be NULL
// when cap is 0) and returns count, or -1 when out of memory.
int vkd_tokenizer_encode(const vkd_tokenizer* tok, const char* utf8, int32_t* ids, int cap);
// The SD conditioning form: BOS, at most max_length - 2 tokens, EOS, then pad ids up to
// max_length; ids holds max_length entries. n_tokens_out (may be NULL) gets the count before
// padding (EOS index + 1); truncated (may be NULL) whether tokens were dropped. The caller
// reports truncation, e.g. with vkd_tokenizer_truncation_message.
vkd_status vkd_tokenizer_encode_padded(const vkd_tokenizer* tok, const char* utf8, int32_t* ids,
                                       int* n_tokens_out, bool* truncated, vkd_error* err);

// Text of ids as transformers' decode gives it (byte alphabet undone, "</w>" -> space, ends
// stripped, broken UTF-8 -> U+FFFD; no clean-up of spaces before punctuation). Special tokens
// appear as their strings unless skip_special. snprintf-style: writes at most size bytes
// incl. the NUL and returns the full length.
size_t vkd_tokenizer_decode(const vkd_tokenizer* tok, const int32_t* ids, int n, bool skip_special, char* buf,
                            size_t size);
// The warning to print when vkd_tokenizer_encode_padded truncates utf8: how many tokens were
// dropped and their decoded text (what diffusers logs). snprintf-style; returns 0 and writes
// an empty string when nothing is truncated.
size_t vkd_tokenizer_truncation_message(const vkd_tokenizer* tok, const char* utf8, char* buf, size_t size);

#ifdef __cplusplus
}
#endif
#endif
