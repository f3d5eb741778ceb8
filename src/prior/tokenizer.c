// CLIP BPE tokenizer: loading vocab.json / merges.txt / configs, lookups, decoding.
// The text -> ids path is in tokenizer_encode.c.
#include "prior/tokenizer_internal.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char* const default_bos = "<|startoftext|>";
static const char* const default_eos = "<|endoftext|>";

// ---------------------------------------------------------------------------
// Files

// Reads a whole file and NUL-terminates it. missing_ok: a file that does not exist is not an
// error (*data stays NULL).
static vkd_status read_file(const char* path, bool missing_ok, char** data, size_t* size, vkd_error* err) {
    *data = NULL;
    *size = 0;
    FILE* f = fopen(path, "rb");
    if (!f) {
        if (missing_ok && errno == ENOENT) return VKD_OK;
        return vkd_error_set(err, VKD_ERR_IO, "%s: cannot open (%s)", path, strerror(errno));
    }
    size_t cap = 1 << 16, n = 0;
    char* buf = malloc(cap);
    while (buf) {
        n += fread(buf + n, 1, cap - n - 1, f);
        if (ferror(f)) {
            free(buf);
            fclose(f);
            return vkd_error_set(err, VKD_ERR_IO, "%s: read failed (%s)", path, strerror(errno));
        }
        if (feof(f)) break;
        if (n + 1 == cap) {
            char* bigger = cap < (SIZE_MAX >> 1) ? realloc(buf, cap * 2) : NULL;
            if (!bigger) {
                free(buf);
                buf = NULL;
                break;
            }
            buf = bigger;
            cap *= 2;
        }
    }
    fclose(f);
    if (!buf) return vkd_error_set(err, VKD_ERR_OUT_OF_MEMORY, "%s: out of memory while reading", path);
    buf[n] = '\0';
    *data = buf;
    *size = n;
    return VKD_OK;
}

// 1-based line and column of byte offset `at`, for parse errors.
static void line_col(const char* text, size_t at, int* line, int* col) {
    *line = 1;
    *col = 1;
    for (size_t i = 0; i < at; i++) {
        if (text[i] == '\n') {
            (*line)++;
            *col = 1;
        } else {
            (*col)++;
        }
    }
}

static cJSON* parse_json(const char* path, const char* text, size_t size, vkd_error* err) {
    const char* end = NULL;
    cJSON* root = cJSON_ParseWithLengthOpts(text, size, &end, false);
    if (!root) {
        size_t at = end && end >= text && end <= text + size ? (size_t)(end - text) : 0;
        int line, col;
        line_col(text, at, &line, &col);
        vkd_error_set(err, VKD_ERR_INVALID, "%s: invalid JSON at line %d, column %d (byte %zu of %zu)", path, line,
                      col, at, size);
    }
    return root;
}

// ---------------------------------------------------------------------------
// Vocabulary hash (string -> id) and merge hash (pair -> rank, result)

static uint32_t hash_bytes(const char* s, size_t len) {
    uint32_t h = 2166136261u;  // FNV-1a
    for (size_t i = 0; i < len; i++) h = (h ^ (uint8_t)s[i]) * 16777619u;
    return h;
}

static uint32_t hash_pair(uint64_t key) {
    key ^= key >> 33;
    key *= 0xff51afd7ed558ccdull;
    key ^= key >> 33;
    return (uint32_t)key;
}

static uint32_t table_size_for(size_t n) {
    uint32_t size = 16;
    while (size < 2 * n) size <<= 1;
    return size;
}

static bool same_string(const vkd_tokenizer* tok, int32_t id, const char* s, size_t len) {
    return tok->str_len[id] == len && memcmp(tok->strings + tok->str_off[id], s, len) == 0;
}

int32_t vkd_tok_lookup(const vkd_tokenizer* tok, const char* s, size_t len) {
    for (uint32_t i = hash_bytes(s, len) & tok->vocab_mask;; i = (i + 1) & tok->vocab_mask) {
        int32_t id = tok->vocab_table[i];
        if (id == VKD_TOK_NO_ID) return VKD_TOK_NO_ID;
        if (same_string(tok, id, s, len)) return id;
    }
}

const vkd_tok_merge* vkd_tok_find_merge(const vkd_tokenizer* tok, int32_t left, int32_t right) {
    uint64_t key = (uint64_t)(uint32_t)left << 32 | (uint32_t)right;
    for (uint32_t i = hash_pair(key) & tok->merge_mask;; i = (i + 1) & tok->merge_mask) {
        const vkd_tok_merge* m = &tok->merges[i];
        if (m->rank < 0) return NULL;
        if (m->pair == key) return m;
    }
}

// ---------------------------------------------------------------------------
// vocab.json

static vkd_status load_vocab(vkd_tokenizer* tok, const char* path, vkd_error* err) {
    char* text;
    size_t size;
    vkd_status s = read_file(path, false, &text, &size, err);
    if (s) return s;
    cJSON* root = parse_json(path, text, size, err);
    free(text);
    if (!root) return VKD_ERR_INVALID;
    if (!cJSON_IsObject(root)) {
        cJSON_Delete(root);
        return vkd_error_set(err, VKD_ERR_INVALID, "%s: expected a JSON object {\"token\": id, ...}", path);
    }

    size_t count = 0, bytes = 0;
    int32_t max_id = -1;
    for (const cJSON* e = root->child; e; e = e->next) {
        double v = e->valuedouble;
        if (!cJSON_IsNumber(e) || !(v >= 0 && v < VKD_TOK_MAX_ID) || v != (double)(int32_t)v) {
            vkd_error_set(err, VKD_ERR_INVALID, "%s: token \"%.200s\" has id %s; ids must be integers in [0, %d)",
                          path, e->string ? e->string : "", cJSON_IsNumber(e) ? "out of range" : "that is not a number",
                          VKD_TOK_MAX_ID);
            cJSON_Delete(root);
            return VKD_ERR_INVALID;
        }
        if ((int32_t)v > max_id) max_id = (int32_t)v;
        count++;
        bytes += strlen(e->string) + 1;
    }
    if (count == 0) {
        cJSON_Delete(root);
        return vkd_error_set(err, VKD_ERR_INVALID, "%s: the vocabulary is empty", path);
    }
    if (bytes >= UINT32_MAX) {
        cJSON_Delete(root);
        return vkd_error_set(err, VKD_ERR_INVALID, "%s: token strings exceed 4 GiB", path);
    }

    tok->vocab_size = max_id + 1;
    tok->vocab_count = (int32_t)count;
    uint32_t tsize = table_size_for(count);
    tok->vocab_mask = tsize - 1;
    tok->strings = malloc(bytes);
    tok->str_off = malloc((size_t)tok->vocab_size * sizeof *tok->str_off);
    tok->str_len = malloc((size_t)tok->vocab_size * sizeof *tok->str_len);
    tok->vocab_table = malloc((size_t)tsize * sizeof *tok->vocab_table);
    if (!tok->strings || !tok->str_off || !tok->str_len || !tok->vocab_table) {
        cJSON_Delete(root);
        return vkd_error_set(err, VKD_ERR_OUT_OF_MEMORY, "%s: out of memory for %zu tokens", path, count);
    }
    memset(tok->str_off, 0xff, (size_t)tok->vocab_size * sizeof *tok->str_off);
    memset(tok->str_len, 0, (size_t)tok->vocab_size * sizeof *tok->str_len);
    for (uint32_t i = 0; i < tsize; i++) tok->vocab_table[i] = VKD_TOK_NO_ID;

    size_t off = 0;
    for (const cJSON* e = root->child; e; e = e->next) {
        int32_t id = (int32_t)e->valuedouble;
        size_t len = strlen(e->string);
        if (tok->str_off[id] != UINT32_MAX) {
            vkd_error_set(err, VKD_ERR_INVALID, "%s: id %d is given to both \"%.200s\" and \"%.200s\"", path, id,
                          tok->strings + tok->str_off[id], e->string);
            cJSON_Delete(root);
            return VKD_ERR_INVALID;
        }
        uint32_t slot = hash_bytes(e->string, len) & tok->vocab_mask;
        for (; tok->vocab_table[slot] != VKD_TOK_NO_ID; slot = (slot + 1) & tok->vocab_mask) {
            if (same_string(tok, tok->vocab_table[slot], e->string, len)) {
                vkd_error_set(err, VKD_ERR_INVALID, "%s: token \"%.200s\" appears twice", path, e->string);
                cJSON_Delete(root);
                return VKD_ERR_INVALID;
            }
        }
        memcpy(tok->strings + off, e->string, len + 1);
        tok->str_off[id] = (uint32_t)off;
        tok->str_len[id] = (uint32_t)len;
        tok->vocab_table[slot] = id;
        if (len > tok->max_token_len) tok->max_token_len = len;
        off += len + 1;
    }
    cJSON_Delete(root);
    return VKD_OK;
}

// GPT-2's reversible byte -> printable code point map: printable Latin-1 bytes stand for
// themselves, the other 68 bytes take 256, 257, ... in byte order.
static void build_byte_alphabet(vkd_tokenizer* tok) {
    int next = 256;
    for (int b = 0; b < 256; b++) {
        bool printable = (b >= '!' && b <= '~') || (b >= 0xA1 && b <= 0xAC) || (b >= 0xAE && b <= 0xFF);
        tok->byte_cp[b] = printable ? (uint32_t)b : (uint32_t)next++;
    }
    for (int c = 0; c < VKD_TOK_BYTE_CP_LIMIT; c++) tok->cp_byte[c] = -1;
    for (int b = 0; b < 256; b++) tok->cp_byte[tok->byte_cp[b]] = (int16_t)b;
}

static size_t put_utf8(uint32_t cp, char* out) {
    if (cp < 0x80) {
        out[0] = (char)cp;
        return 1;
    }
    if (cp < 0x800) {
        out[0] = (char)(0xC0 | cp >> 6);
        out[1] = (char)(0x80 | (cp & 0x3F));
        return 2;
    }
    if (cp < 0x10000) {
        out[0] = (char)(0xE0 | cp >> 12);
        out[1] = (char)(0x80 | ((cp >> 6) & 0x3F));
        out[2] = (char)(0x80 | (cp & 0x3F));
        return 3;
    }
    out[0] = (char)(0xF0 | cp >> 18);
    out[1] = (char)(0x80 | ((cp >> 12) & 0x3F));
    out[2] = (char)(0x80 | ((cp >> 6) & 0x3F));
    out[3] = (char)(0x80 | (cp & 0x3F));
    return 4;
}

static vkd_status resolve_byte_symbols(vkd_tokenizer* tok, const char* vocab_path, vkd_error* err) {
    build_byte_alphabet(tok);
    for (int b = 0; b < 256; b++) {
        char s[8];
        size_t n = put_utf8(tok->byte_cp[b], s);
        tok->byte_id[b] = vkd_tok_lookup(tok, s, n);
        memcpy(s + n, "</w>", 4);
        tok->byte_end_id[b] = vkd_tok_lookup(tok, s, n + 4);
        if (tok->byte_id[b] < 0 || tok->byte_end_id[b] < 0) {
            s[tok->byte_id[b] < 0 ? n : n + 4] = '\0';
            return vkd_error_set(err, VKD_ERR_INVALID,
                                 "%s: the byte symbol \"%s\" (byte 0x%02x) is missing; a CLIP vocabulary has all 256 "
                                 "byte symbols, with and without \"</w>\"",
                                 vocab_path, s, b);
        }
    }
    return VKD_OK;
}

// ---------------------------------------------------------------------------
// merges.txt

static bool is_blank(char c) { return c == ' ' || c == '\t' || c == '\r' || c == '\v' || c == '\f'; }

static void add_merge(vkd_tokenizer* tok, int32_t left, int32_t right, int32_t result, int32_t rank) {
    uint64_t key = (uint64_t)(uint32_t)left << 32 | (uint32_t)right;
    for (uint32_t i = hash_pair(key) & tok->merge_mask;; i = (i + 1) & tok->merge_mask) {
        vkd_tok_merge* m = &tok->merges[i];
        // A repeated pair takes its last rank: CLIPTokenizer builds a dict from the lines.
        if (m->rank < 0 || m->pair == key) {
            m->pair = key;
            m->rank = rank;
            m->result = result;
            return;
        }
    }
}

static vkd_status load_merges(vkd_tokenizer* tok, const char* path, vkd_error* err) {
    char* text;
    size_t size;
    vkd_status s = read_file(path, false, &text, &size, err);
    if (s) return s;

    // Upper bound on merges: one per line.
    size_t lines = 1;
    for (size_t i = 0; i < size; i++) lines += text[i] == '\n';
    if (lines > VKD_TOK_MAX_MERGES) lines = VKD_TOK_MAX_MERGES;
    uint32_t tsize = table_size_for(lines);
    tok->merge_mask = tsize - 1;
    tok->merges = malloc((size_t)tsize * sizeof *tok->merges);
    char* joined = malloc(tok->max_token_len + 1);
    if (!tok->merges || !joined) {
        free(text);
        free(joined);
        return vkd_error_set(err, VKD_ERR_OUT_OF_MEMORY, "%s: out of memory", path);
    }
    for (uint32_t i = 0; i < tsize; i++) tok->merges[i].rank = -1;

    int line_no = 0;
    int32_t rank = 0;
    char* p = text;
    char* end = text + size;
    while (p < end && rank < VKD_TOK_MAX_MERGES) {
        char* eol = memchr(p, '\n', (size_t)(end - p));
        if (!eol) eol = end;
        line_no++;
        char* line = p;
        p = eol + 1;
        if (line_no == 1 && strncmp(line, "#version", 8) == 0) continue;

        // Two symbols separated by blanks, as Python's str.split() sees them.
        char* field[3];
        size_t flen[3];
        int nf = 0;
        for (char* q = line; q < eol;) {
            while (q < eol && is_blank(*q)) q++;
            if (q == eol) break;
            char* start = q;
            while (q < eol && !is_blank(*q)) q++;
            if (nf < 3) {
                field[nf] = start;
                flen[nf] = (size_t)(q - start);
            }
            nf++;
        }
        if (nf == 0) continue;
        if (nf != 2) {
            s = vkd_error_set(err, VKD_ERR_INVALID,
                              "%s line %d: expected two symbols separated by a space, found %d: \"%.*s\"", path,
                              line_no, nf, (int)((eol - line) > 200 ? 200 : (eol - line)), line);
            break;
        }
        int32_t id[2] = {VKD_TOK_NO_ID, VKD_TOK_NO_ID};
        for (int k = 0; k < 2; k++) {
            id[k] = vkd_tok_lookup(tok, field[k], flen[k]);
            if (id[k] < 0) {
                s = vkd_error_set(err, VKD_ERR_INVALID, "%s line %d: symbol \"%.*s\" is not in the vocabulary", path,
                                  line_no, (int)(flen[k] > 200 ? 200 : flen[k]), field[k]);
                break;
            }
        }
        if (s) break;
        size_t jlen = flen[0] + flen[1];
        int32_t result = VKD_TOK_NO_ID;
        if (jlen <= tok->max_token_len) {
            memcpy(joined, field[0], flen[0]);
            memcpy(joined + flen[0], field[1], flen[1]);
            result = vkd_tok_lookup(tok, joined, jlen);
        }
        if (result < 0) {
            s = vkd_error_set(err, VKD_ERR_INVALID,
                              "%s line %d: merging \"%.*s\" and \"%.*s\" gives \"%.*s%.*s\", which is not in the "
                              "vocabulary (vocab.json and merges.txt do not belong together?)",
                              path, line_no, (int)(flen[0] > 200 ? 200 : flen[0]), field[0],
                              (int)(flen[1] > 200 ? 200 : flen[1]), field[1], (int)(flen[0] > 200 ? 200 : flen[0]),
                              field[0], (int)(flen[1] > 200 ? 200 : flen[1]), field[1]);
            break;
        }
        add_merge(tok, id[0], id[1], result, rank++);
    }
    tok->num_merges = rank;
    free(joined);
    free(text);
    if (s) return s;
    if (rank == 0) return vkd_error_set(err, VKD_ERR_INVALID, "%s: no merge rules", path);
    return VKD_OK;
}

// ---------------------------------------------------------------------------
// Special tokens

static vkd_status resolve_specials(vkd_tokenizer* tok, const vkd_tokenizer_desc* d, vkd_error* err) {
    const char* name[4] = {"bos", "eos", "unk", "pad"};
    const char* str[4] = {d->bos_token ? d->bos_token : default_bos, d->eos_token ? d->eos_token : default_eos,
                          d->unk_token ? d->unk_token : default_eos, NULL};
    str[3] = d->pad_token ? d->pad_token : str[1];
    int32_t id[4];
    for (int k = 0; k < 4; k++) {
        if (!*str[k]) return vkd_error_set(err, VKD_ERR_INVALID, "tokenizer: the %s token is an empty string", name[k]);
        id[k] = vkd_tok_lookup(tok, str[k], strlen(str[k]));
        if (id[k] < 0)
            return vkd_error_set(err, VKD_ERR_INVALID, "%s: the %s token \"%.200s\" is not in the vocabulary",
                                 d->vocab_path, name[k], str[k]);
    }
    tok->bos_id = id[0];
    tok->eos_id = id[1];
    tok->unk_id = id[2];
    tok->pad_id = id[3];
    for (int k = 0; k < 4; k++) {
        bool seen = false;
        for (int j = 0; j < tok->n_special; j++) seen |= strcmp(tok->special[j], str[k]) == 0;
        if (seen) continue;
        size_t len = strlen(str[k]);
        char* copy = malloc(len + 1);
        if (!copy) return vkd_error_set(err, VKD_ERR_OUT_OF_MEMORY, "tokenizer: out of memory");
        memcpy(copy, str[k], len + 1);
        // Insertion keeps them longest first.
        int at = tok->n_special;
        while (at > 0 && tok->special_len[at - 1] < len) {
            tok->special[at] = tok->special[at - 1];
            tok->special_len[at] = tok->special_len[at - 1];
            tok->special_id[at] = tok->special_id[at - 1];
            at--;
        }
        tok->special[at] = copy;
        tok->special_len[at] = len;
        tok->special_id[at] = id[k];
        tok->n_special++;
    }
    const char* literal[2] = {"<|startoftext|>", "<|endoftext|>"};
    for (int k = 0; k < 2; k++) {
        int32_t lid = vkd_tok_lookup(tok, literal[k], strlen(literal[k]));
        tok->literal_id[k] = lid >= 0 ? lid : tok->unk_id;
    }
    return VKD_OK;
}

// ---------------------------------------------------------------------------
// Public API

vkd_status vkd_tokenizer_load(const vkd_tokenizer_desc* desc, vkd_tokenizer** out, vkd_error* err) {
    if (!out) return vkd_error_set(err, VKD_ERR_INVALID, "vkd_tokenizer_load: out is NULL");
    *out = NULL;
    if (!desc || !desc->vocab_path || !desc->merges_path)
        return vkd_error_set(err, VKD_ERR_INVALID, "vkd_tokenizer_load: vocab_path and merges_path are required");
    int max_length = desc->max_length ? desc->max_length : VKD_TOKENIZER_DEFAULT_MAX_LENGTH;
    if (max_length < 2 || max_length > (1 << 20))
        return vkd_error_set(err, VKD_ERR_INVALID,
                             "vkd_tokenizer_load: max_length %d is out of range (2 .. 1048576; 0 = 77)", max_length);
    vkd_tokenizer* tok = calloc(1, sizeof *tok);
    if (!tok) return vkd_error_set(err, VKD_ERR_OUT_OF_MEMORY, "vkd_tokenizer_load: out of memory");
    tok->max_length = max_length;
    vkd_status s = load_vocab(tok, desc->vocab_path, err);
    if (!s) s = resolve_byte_symbols(tok, desc->vocab_path, err);
    if (!s) s = load_merges(tok, desc->merges_path, err);
    if (!s) s = resolve_specials(tok, desc, err);
    if (s) {
        vkd_tokenizer_free(tok);
        return s;
    }
    *out = tok;
    return VKD_OK;
}

void vkd_tokenizer_free(vkd_tokenizer* tok) {
    if (!tok) return;
    free(tok->strings);
    free(tok->str_off);
    free(tok->str_len);
    free(tok->vocab_table);
    free(tok->merges);
    for (int k = 0; k < tok->n_special; k++) free(tok->special[k]);
    free(tok);
}

// One of the special-token keys of a transformers config: a string, or an AddedToken
// object {"content": ...}; null leaves the current value.
static vkd_status config_token(const cJSON* root, const char* key, const char* path, char** value, vkd_error* err) {
    const cJSON* v = cJSON_GetObjectItemCaseSensitive(root, key);
    if (!v || cJSON_IsNull(v)) return VKD_OK;
    if (cJSON_IsObject(v)) v = cJSON_GetObjectItemCaseSensitive(v, "content");
    if (!cJSON_IsString(v) || !v->valuestring)
        return vkd_error_set(err, VKD_ERR_INVALID, "%s: \"%s\" must be a string or an object with a \"content\" string",
                             path, key);
    size_t len = strlen(v->valuestring);
    char* copy = malloc(len + 1);
    if (!copy) return vkd_error_set(err, VKD_ERR_OUT_OF_MEMORY, "%s: out of memory", path);
    memcpy(copy, v->valuestring, len + 1);
    free(*value);
    *value = copy;
    return VKD_OK;
}

static vkd_status read_config(const char* path, char* tokens[4], int* max_length, vkd_error* err) {
    char* text;
    size_t size;
    vkd_status s = read_file(path, true, &text, &size, err);
    if (s || !text) return s;
    cJSON* root = parse_json(path, text, size, err);
    free(text);
    if (!root) return VKD_ERR_INVALID;
    if (!cJSON_IsObject(root)) {
        cJSON_Delete(root);
        return vkd_error_set(err, VKD_ERR_INVALID, "%s: expected a JSON object", path);
    }
    static const char* const keys[4] = {"bos_token", "eos_token", "unk_token", "pad_token"};
    for (int k = 0; k < 4 && !s; k++) s = config_token(root, keys[k], path, &tokens[k], err);
    const cJSON* ml = cJSON_GetObjectItemCaseSensitive(root, "model_max_length");
    if (!s && ml && !cJSON_IsNull(ml)) {
        double v = ml->valuedouble;
        if (!cJSON_IsNumber(ml) || !(v >= 2) || (v <= 1e6 && v != (double)(int)v))
            s = vkd_error_set(err, VKD_ERR_INVALID, "%s: \"model_max_length\" must be an integer >= 2", path);
        else if (v <= 1e6)
            *max_length = (int)v;
    }
    cJSON_Delete(root);
    return s;
}

vkd_status vkd_tokenizer_load_dir(const char* dir, vkd_tokenizer** out, vkd_error* err) {
    if (!out) return vkd_error_set(err, VKD_ERR_INVALID, "vkd_tokenizer_load_dir: out is NULL");
    *out = NULL;
    if (!dir || !*dir) return vkd_error_set(err, VKD_ERR_INVALID, "vkd_tokenizer_load_dir: no directory given");
    size_t dlen = strlen(dir);
    char* paths = malloc(4 * (dlen + 32));
    if (!paths) return vkd_error_set(err, VKD_ERR_OUT_OF_MEMORY, "vkd_tokenizer_load_dir: out of memory");
    const char* names[4] = {"vocab.json", "merges.txt", "tokenizer_config.json", "special_tokens_map.json"};
    char* path[4];
    for (int k = 0; k < 4; k++) {
        path[k] = paths + k * (dlen + 32);
        snprintf(path[k], dlen + 32, "%s%s%s", dir, dir[dlen - 1] == '/' ? "" : "/", names[k]);
    }
    char* tokens[4] = {NULL, NULL, NULL, NULL};
    int max_length = 0;
    vkd_status s = read_config(path[2], tokens, &max_length, err);
    if (!s) s = read_config(path[3], tokens, &max_length, err);
    if (!s) {
        vkd_tokenizer_desc desc = {
            .vocab_path = path[0],
            .merges_path = path[1],
            .max_length = max_length,
            .bos_token = tokens[0],
            .eos_token = tokens[1],
            .unk_token = tokens[2],
            .pad_token = tokens[3],
        };
        s = vkd_tokenizer_load(&desc, out, err);
    }
    for (int k = 0; k < 4; k++) free(tokens[k]);
    free(paths);
    return s;
}

vkd_tokenizer_info vkd_tokenizer_get_info(const vkd_tokenizer* tok) {
    vkd_tokenizer_info info = {
        .vocab_size = tok->vocab_size,
        .num_merges = tok->num_merges,
        .max_length = tok->max_length,
        .bos_id = tok->bos_id,
        .eos_id = tok->eos_id,
        .pad_id = tok->pad_id,
        .unk_id = tok->unk_id,
    };
    return info;
}

const char* vkd_tokenizer_token(const vkd_tokenizer* tok, int32_t id) {
    if (!tok || id < 0 || id >= tok->vocab_size || tok->str_off[id] == UINT32_MAX) return NULL;
    return tok->strings + tok->str_off[id];
}

int32_t vkd_tokenizer_token_id(const vkd_tokenizer* tok, const char* token) {
    if (!tok || !token) return VKD_TOK_NO_ID;
    return vkd_tok_lookup(tok, token, strlen(token));
}

int vkd_tokenizer_encode(const vkd_tokenizer* tok, const char* utf8, int32_t* ids, int cap) {
    if (!tok || cap < 0 || (cap > 0 && !ids)) return -1;
    vkd_tok_sink sink = {.ids = ids, .cap = cap};
    if (cap > 0) ids[0] = tok->bos_id;
    sink.count = 1;
    if (utf8 && !vkd_tok_encode_text(tok, utf8, strlen(utf8), &sink)) return -1;
    if (sink.count == INT_MAX) return -1;
    if (sink.count < cap) ids[sink.count] = tok->eos_id;
    return sink.count + 1;
}

vkd_status vkd_tokenizer_encode_padded(const vkd_tokenizer* tok, const char* utf8, int32_t* ids, int* n_tokens_out,
                                       bool* truncated, vkd_error* err) {
    if (!tok || !ids) return vkd_error_set(err, VKD_ERR_INVALID, "vkd_tokenizer_encode_padded: tok and ids are required");
    int room = tok->max_length - 2;
    vkd_tok_sink sink = {.ids = ids + 1, .cap = room};
    if (utf8 && !vkd_tok_encode_text(tok, utf8, strlen(utf8), &sink))
        return vkd_error_set(err, VKD_ERR_OUT_OF_MEMORY, "tokenizer: out of memory encoding a %zu-byte prompt",
                             strlen(utf8));
    int kept = sink.count < room ? sink.count : room;
    ids[0] = tok->bos_id;
    ids[kept + 1] = tok->eos_id;
    for (int i = kept + 2; i < tok->max_length; i++) ids[i] = tok->pad_id;
    if (n_tokens_out) *n_tokens_out = kept + 2;
    if (truncated) *truncated = sink.count > room;
    return VKD_OK;
}

// ---------------------------------------------------------------------------
// Decoding

typedef struct text_out {
    char* buf;
    size_t size;
    size_t len;  // full length, even past size
} text_out;

static void out_bytes(text_out* o, const char* s, size_t n) {
    for (size_t i = 0; i < n; i++, o->len++)
        if (o->len + 1 < o->size) o->buf[o->len] = s[i];
}

size_t vkd_tok_utf8_seq(const uint8_t* s, size_t n, size_t* bad) {
    uint8_t c = s[0];
    *bad = 1;
    if (c < 0x80) return 1;
    size_t len;
    uint8_t lo = 0x80, hi = 0xBF;
    if (c >= 0xC2 && c <= 0xDF) len = 2;
    else if (c >= 0xE0 && c <= 0xEF) {
        len = 3;
        if (c == 0xE0) lo = 0xA0;
        if (c == 0xED) hi = 0x9F;
    } else if (c >= 0xF0 && c <= 0xF4) {
        len = 4;
        if (c == 0xF0) lo = 0x90;
        if (c == 0xF4) hi = 0x8F;
    } else
        return 0;
    size_t i = 1;
    if (i < n && s[i] >= lo && s[i] <= hi) {
        for (i = 2; i < len && i < n && s[i] >= 0x80 && s[i] <= 0xBF; i++) {}
    }
    if (i == len) return len;
    *bad = i;
    return 0;
}

size_t vkd_tokenizer_decode(const vkd_tokenizer* tok, const int32_t* ids, int n, bool skip_special, char* buf,
                            size_t size) {
    // Bytes first (the byte alphabet undone), then the text fixes on the bytes.
    size_t cap = 64, len = 0;
    uint8_t* bytes = malloc(cap);
    for (int i = 0; bytes && ids && i < n; i++) {
        const char* s = vkd_tokenizer_token(tok, ids[i]);
        if (!s) continue;
        if (skip_special) {
            bool special = false;
            for (int k = 0; k < tok->n_special; k++) special |= tok->special_id[k] == ids[i];
            if (special) continue;
        }
        size_t slen = tok->str_len[ids[i]];
        if (len + slen > cap) {
            while (len + slen > cap) cap *= 2;
            uint8_t* bigger = realloc(bytes, cap);
            if (!bigger) {
                free(bytes);
                bytes = NULL;
                break;
            }
            bytes = bigger;
        }
        for (size_t j = 0; j < slen;) {
            size_t bad, k = vkd_tok_utf8_seq((const uint8_t*)s + j, slen - j, &bad);
            if (k == 0) k = bad;  // vocabulary strings are valid UTF-8 (cJSON); be safe anyway
            int32_t cp = -1;
            if (k == 1) cp = (uint8_t)s[j];
            else if (k == 2) cp = ((s[j] & 0x1F) << 6) | (s[j + 1] & 0x3F);
            if (cp >= 0 && cp < VKD_TOK_BYTE_CP_LIMIT && tok->cp_byte[cp] >= 0) {
                bytes[len++] = (uint8_t)tok->cp_byte[cp];
            } else {
                // Not in the byte alphabet (an added token): keep its UTF-8 as is.
                memcpy(bytes + len, s + j, k);
                len += k;
            }
            j += k;
        }
    }
    text_out o = {.buf = buf, .size = size};
    if (bytes) {
        // "</w>" -> " ", then strip the ends.
        size_t w = 0;
        for (size_t r = 0; r < len;) {
            if (r + 4 <= len && memcmp(bytes + r, "</w>", 4) == 0) {
                bytes[w++] = ' ';
                r += 4;
            } else {
                bytes[w++] = bytes[r++];
            }
        }
        size_t a = 0, b = w;
        while (a < b && (bytes[a] == ' ' || (bytes[a] >= '\t' && bytes[a] <= '\r'))) a++;
        while (b > a && (bytes[b - 1] == ' ' || (bytes[b - 1] >= '\t' && bytes[b - 1] <= '\r'))) b--;
        for (size_t i = a; i < b;) {
            size_t bad, k = vkd_tok_utf8_seq(bytes + i, b - i, &bad);
            if (k) {
                out_bytes(&o, (const char*)bytes + i, k);
                i += k;
            } else {
                out_bytes(&o, "\xEF\xBF\xBD", 3);
                i += bad;
            }
        }
    }
    free(bytes);
    if (size) buf[o.len < size ? o.len : size - 1] = '\0';
    return o.len;
}

size_t vkd_tokenizer_truncation_message(const vkd_tokenizer* tok, const char* utf8, char* buf, size_t size) {
    if (size) buf[0] = '\0';
    if (!tok || !utf8) return 0;
    int n = vkd_tokenizer_encode(tok, utf8, NULL, 0);
    if (n <= tok->max_length) return 0;
    int32_t* ids = malloc((size_t)n * sizeof *ids);
    if (!ids || vkd_tokenizer_encode(tok, utf8, ids, n) != n) {
        free(ids);
        return (size_t)snprintf(buf, size, "prompt truncated to %d tokens", tok->max_length - 2);
    }
    // What diffusers reports: the tokens between the last kept one and EOS.
    const int32_t* dropped = ids + tok->max_length - 1;
    int n_dropped = n - tok->max_length;
    size_t tlen = vkd_tokenizer_decode(tok, dropped, n_dropped, false, NULL, 0);
    char* text = malloc(tlen + 1);
    if (text) vkd_tokenizer_decode(tok, dropped, n_dropped, false, text, tlen + 1);
    int r = snprintf(buf, size,
                     "prompt truncated: it has %d tokens but the text encoder takes %d (%d with BOS/EOS); "
                     "dropped %d: \"%s\"",
                     n - 2, tok->max_length - 2, tok->max_length, n_dropped, text ? text : "");
    free(text);
    free(ids);
    return r < 0 ? 0 : (size_t)r;
}
