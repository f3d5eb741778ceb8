// CLIP tokenizer, text -> ids: special-token split, BasicTokenizer clean-up, CLIP's
// pre-tokenizer regex (matched by hand on utf8proc categories) and byte-level BPE.
// Each step mirrors transformers' slow CLIPTokenizer without ftfy; see tokenizer.h.
#include "prior/tokenizer_internal.h"

#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <utf8proc.h>

// A growable scratch array; callers cast p after vec_reserve succeeds.
typedef struct vec {
    void* p;
    size_t cap;  // elements
} vec;

static bool vec_reserve(vec* v, size_t need, size_t elem) {
    if (need <= v->cap) return true;
    size_t n = v->cap ? v->cap : 64;
    while (n < need) {
        if (n > SIZE_MAX / 4 / elem) return false;
        n *= 2;
    }
    void* q = realloc(v->p, n * elem);
    if (!q) return false;
    v->p = q;
    v->cap = n;
    return true;
}

typedef struct heap_entry {
    int32_t rank;
    int32_t pos;     // node of the pair's left symbol
    int32_t left;    // the pair's symbols when pushed; a mismatch later means stale
    int32_t right;
    int32_t result;
} heap_entry;

typedef struct work {
    vec clean;    // uint8_t: a piece after clean-up, before NFC
    vec cps;      // utf8proc_int32_t: the piece after NFC
    vec low;      // uint32_t: one whitespace-separated word, lower-cased
    vec bytes;    // uint8_t: one regex match as UTF-8
    vec sym;      // int32_t: BPE symbol per node, -1 once merged into its left neighbour
    vec prev;     // int32_t
    vec next;     // int32_t
    vec heap;     // heap_entry
    vec pending;  // heap_entry: pairs made during a merge pass, queued after it
} work;

static void work_free(work* w) {
    vec* all[] = {&w->clean, &w->cps, &w->low, &w->bytes, &w->sym, &w->prev, &w->next, &w->heap, &w->pending};
    for (size_t i = 0; i < sizeof all / sizeof all[0]; i++) free(all[i]->p);
}

static bool emit(vkd_tok_sink* sink, int32_t id) {
    if (sink->count >= INT_MAX - 1) {
        sink->failed = true;
        return false;
    }
    if (sink->count < sink->cap) sink->ids[sink->count] = id;
    sink->count++;
    return true;
}

// ---------------------------------------------------------------------------
// Character classes

static bool is_other_category(utf8proc_category_t cat) {
    return cat == UTF8PROC_CATEGORY_CN || cat == UTF8PROC_CATEGORY_CC || cat == UTF8PROC_CATEGORY_CF ||
           cat == UTF8PROC_CATEGORY_CS || cat == UTF8PROC_CATEGORY_CO;
}

// BERT's _is_chinese_char: the CJK Unified Ideographs blocks and their compatibility blocks.
static bool is_cjk_ideograph(uint32_t c) {
    return (c >= 0x4E00 && c <= 0x9FFF) || (c >= 0x3400 && c <= 0x4DBF) || (c >= 0x20000 && c <= 0x2A6DF) ||
           (c >= 0x2A700 && c <= 0x2B73F) || (c >= 0x2B740 && c <= 0x2B81F) || (c >= 0x2B820 && c <= 0x2CEAF) ||
           (c >= 0xF900 && c <= 0xFAFF) || (c >= 0x2F800 && c <= 0x2FA1F);
}

// Python's str.isspace (what str.split() splits on).
static bool is_py_space(uint32_t c) {
    if (c < 0x80) return c == ' ' || (c >= '\t' && c <= '\r') || (c >= 0x1C && c <= 0x1F);
    if (c == 0x85) return true;
    utf8proc_category_t cat = utf8proc_category((utf8proc_int32_t)c);
    return cat == UTF8PROC_CATEGORY_ZS || cat == UTF8PROC_CATEGORY_ZL || cat == UTF8PROC_CATEGORY_ZP;
}

// Characters no alternative of the CLIP regex matches: \s (Unicode White_Space) and U+0345,
// which under IGNORECASE the regex module keeps out of both [\p{L}] and [^\s\p{L}\p{N}]
// (it case-folds to a letter, iota, without being one).
static bool is_unmatched(uint32_t c) {
    if (c < 0x80) return c == ' ' || (c >= '\t' && c <= '\r');
    if (c == 0x85 || c == 0x345) return true;
    utf8proc_category_t cat = utf8proc_category((utf8proc_int32_t)c);
    return cat == UTF8PROC_CATEGORY_ZS || cat == UTF8PROC_CATEGORY_ZL || cat == UTF8PROC_CATEGORY_ZP;
}

static bool is_letter(uint32_t c) {
    if (c < 0x80) return (c | 0x20) >= 'a' && (c | 0x20) <= 'z';
    utf8proc_category_t cat = utf8proc_category((utf8proc_int32_t)c);
    return cat >= UTF8PROC_CATEGORY_LU && cat <= UTF8PROC_CATEGORY_LO;
}

static bool is_number(uint32_t c) {
    if (c < 0x80) return c >= '0' && c <= '9';
    utf8proc_category_t cat = utf8proc_category((utf8proc_int32_t)c);
    return cat >= UTF8PROC_CATEGORY_ND && cat <= UTF8PROC_CATEGORY_NO;
}

// Unicode Case_Ignorable, used by the final-sigma rule: Mn, Me, Cf, Lm, Sk and the Word_Break
// classes MidLetter, MidNumLet and Single_Quote.
static bool is_case_ignorable(uint32_t c) {
    switch (c) {
    case 0x27: case 0x2E: case 0x3A: case 0xB7: case 0x387: case 0x55F: case 0x5F4: case 0x2018: case 0x2019:
    case 0x2024: case 0x2027: case 0xFE13: case 0xFE52: case 0xFE55: case 0xFF07: case 0xFF0E: case 0xFF1A:
        return true;
    default: break;
    }
    utf8proc_category_t cat = utf8proc_category((utf8proc_int32_t)c);
    return cat == UTF8PROC_CATEGORY_MN || cat == UTF8PROC_CATEGORY_ME || cat == UTF8PROC_CATEGORY_CF ||
           cat == UTF8PROC_CATEGORY_LM || cat == UTF8PROC_CATEGORY_SK;
}

// Unicode Cased: letters with a case, anything with a case mapping, and the Other_Lowercase /
// Other_Uppercase characters that are neither (the rest of those are Case_Ignorable, which the
// final-sigma rule checks first).
static bool is_cased(uint32_t c) {
    utf8proc_category_t cat = utf8proc_category((utf8proc_int32_t)c);
    if (cat == UTF8PROC_CATEGORY_LU || cat == UTF8PROC_CATEGORY_LL || cat == UTF8PROC_CATEGORY_LT) return true;
    if (utf8proc_tolower((utf8proc_int32_t)c) != (utf8proc_int32_t)c ||
        utf8proc_toupper((utf8proc_int32_t)c) != (utf8proc_int32_t)c)
        return true;
    return c == 0xAA || c == 0xBA || (c >= 0x2160 && c <= 0x217F) || (c >= 0x24B6 && c <= 0x24E9) ||
           (c >= 0x1F130 && c <= 0x1F149) || (c >= 0x1F150 && c <= 0x1F169) || (c >= 0x1F170 && c <= 0x1F189);
}

// Python's str.lower: U+03A3 becomes final sigma when a cased letter precedes it and none
// follows, skipping case-ignorable characters both ways.
static bool is_final_sigma(const uint32_t* t, size_t n, size_t i) {
    size_t j = i;
    while (j > 0 && is_case_ignorable(t[j - 1])) j--;
    if (j == 0 || !is_cased(t[j - 1])) return false;
    for (j = i + 1; j < n && is_case_ignorable(t[j]); j++) {}
    return j == n || !is_cased(t[j]);
}

// ---------------------------------------------------------------------------
// BPE over one pre-tokenized word. transformers repeatedly takes the lowest-ranked adjacent
// pair and merges all its occurrences left to right before looking again; pairs that appear
// during such a pass wait until it ends even if they rank lower. A heap keeps this
// O(n log n) for long words.

static bool heap_less(const heap_entry* a, const heap_entry* b) {
    return a->rank < b->rank || (a->rank == b->rank && a->pos < b->pos);
}

static void heap_push(heap_entry* h, size_t* n, heap_entry e) {
    size_t i = (*n)++;
    while (i > 0) {
        size_t parent = (i - 1) / 2;
        if (!heap_less(&e, &h[parent])) break;
        h[i] = h[parent];
        i = parent;
    }
    h[i] = e;
}

static heap_entry heap_pop(heap_entry* h, size_t* n) {
    heap_entry top = h[0];
    heap_entry last = h[--(*n)];
    size_t i = 0;
    for (;;) {
        size_t c = 2 * i + 1;
        if (c >= *n) break;
        if (c + 1 < *n && heap_less(&h[c + 1], &h[c])) c++;
        if (!heap_less(&h[c], &last)) break;
        h[i] = h[c];
        i = c;
    }
    if (*n > 0) h[i] = last;
    return top;
}

static bool pair_entry(const vkd_tokenizer* tok, const int32_t* sym, int32_t pos, int32_t right_pos, heap_entry* e) {
    const vkd_tok_merge* m = vkd_tok_find_merge(tok, sym[pos], sym[right_pos]);
    if (!m) return false;
    *e = (heap_entry){.rank = m->rank, .pos = pos, .left = sym[pos], .right = sym[right_pos], .result = m->result};
    return true;
}

static bool bpe_word(const vkd_tokenizer* tok, work* w, const uint8_t* bytes, size_t n, vkd_tok_sink* sink) {
    if (n == 1) return emit(sink, tok->byte_end_id[bytes[0]]);
    if (n > INT32_MAX / 4) return false;
    // Every merge adds at most two pairs to the n - 1 initial ones.
    if (!vec_reserve(&w->sym, n, sizeof(int32_t)) || !vec_reserve(&w->prev, n, sizeof(int32_t)) ||
        !vec_reserve(&w->next, n, sizeof(int32_t)) || !vec_reserve(&w->heap, 3 * n, sizeof(heap_entry)) ||
        !vec_reserve(&w->pending, 2 * n, sizeof(heap_entry)))
        return false;
    int32_t* sym = w->sym.p;
    int32_t* prev = w->prev.p;
    int32_t* next = w->next.p;
    heap_entry* heap = w->heap.p;
    heap_entry* pending = w->pending.p;
    for (size_t i = 0; i < n; i++) {
        sym[i] = i + 1 < n ? tok->byte_id[bytes[i]] : tok->byte_end_id[bytes[i]];
        prev[i] = (int32_t)i - 1;
        next[i] = i + 1 < n ? (int32_t)i + 1 : -1;
    }
    size_t nh = 0;
    heap_entry e;
    for (size_t i = 0; i + 1 < n; i++)
        if (pair_entry(tok, sym, (int32_t)i, (int32_t)i + 1, &e)) heap_push(heap, &nh, e);

    while (nh > 0) {
        int32_t rank = heap[0].rank;
        size_t np = 0;
        while (nh > 0 && heap[0].rank == rank) {
            e = heap_pop(heap, &nh);
            int32_t p = e.pos, q = next[p];
            // Stale: the left node was merged away or changed, or its right neighbour changed
            // (symbols only grow, so equal ids mean the same pair).
            if (sym[p] != e.left || q < 0 || sym[q] != e.right) continue;
            sym[p] = e.result;
            sym[q] = -1;
            next[p] = next[q];
            if (next[q] >= 0) prev[next[q]] = p;
            heap_entry f;
            if (prev[p] >= 0 && pair_entry(tok, sym, prev[p], p, &f)) pending[np++] = f;
            if (next[p] >= 0 && pair_entry(tok, sym, p, next[p], &f)) pending[np++] = f;
        }
        for (size_t i = 0; i < np; i++) heap_push(heap, &nh, pending[i]);
    }
    for (int32_t p = 0; p >= 0; p = next[p])
        if (!emit(sink, sym[p])) return false;
    return true;
}

// ---------------------------------------------------------------------------
// CLIP's pre-tokenizer regex, applied to one lower-cased word (matches never span spaces):
//   <\|startoftext\|>|<\|endoftext\|>|'s|'t|'re|'ve|'m|'ll|'d|[\p{L}]+|[\p{N}]|[^\s\p{L}\p{N}]+
// with re.IGNORECASE. After lower-casing, the only character that case-folds onto one of the
// literals' letters is U+017F (long s) -> s.

static uint32_t fold(uint32_t c) { return c == 0x17F ? 's' : c; }

// Length of the contraction at t[0] == '\'', or 0.
static size_t match_contraction(const uint32_t* t, size_t n) {
    if (n < 2) return 0;
    uint32_t a = fold(t[1]);
    if (a == 's' || a == 't' || a == 'm' || a == 'd') return 2;
    if (n < 3) return 0;
    uint32_t b = fold(t[2]);
    if ((a == 'r' && b == 'e') || (a == 'v' && b == 'e') || (a == 'l' && b == 'l')) return 3;
    return 0;
}

static bool encode_match(const vkd_tokenizer* tok, work* w, const uint32_t* t, size_t n, vkd_tok_sink* sink) {
    if (!vec_reserve(&w->bytes, 4 * n, 1)) return false;
    uint8_t* b = w->bytes.p;
    size_t len = 0;
    for (size_t i = 0; i < n; i++) len += (size_t)utf8proc_encode_char((utf8proc_int32_t)t[i], b + len);
    return bpe_word(tok, w, b, len, sink);
}

// Which regex literal starts at t (-1 for none) and whether it is spelled exactly.
static int literal_at(const uint32_t* t, size_t n, size_t* len, bool* exact) {
    static const char* const literal[2] = {"<|startoftext|>", "<|endoftext|>"};
    for (int k = 0; k < 2; k++) {
        size_t l = strlen(literal[k]);
        if (n < l) continue;
        bool folded = true, same = true;
        for (size_t i = 0; i < l && folded; i++) {
            folded = fold(t[i]) == (uint8_t)literal[k][i];
            same &= t[i] == (uint8_t)literal[k][i];
        }
        if (!folded) continue;
        *len = l;
        *exact = same;
        return k;
    }
    return -1;
}

static bool pretokenize_word(const vkd_tokenizer* tok, work* w, const uint32_t* t, size_t n, vkd_tok_sink* sink) {
    for (size_t i = 0; i < n;) {
        uint32_t c = t[i];
        size_t len = 0;
        bool exact;
        int k = c == '<' ? literal_at(t + i, n - i, &len, &exact) : -1;
        if (k >= 0 && exact) {
            // CLIPTokenizer's BPE cache returns the exact literal whole; a folded spelling
            // ("<|ſtartoftext|>") goes through BPE like any other match.
            if (!emit(sink, tok->literal_id[k])) return false;
            i += len;
            continue;
        }
        if (!len && c == '\'') len = match_contraction(t + i, n - i);
        if (!len) {
            if (is_letter(c)) {
                for (len = 1; i + len < n && is_letter(t[i + len]); len++) {}
            } else if (is_number(c)) {
                len = 1;
            } else if (!is_unmatched(c)) {
                for (len = 1; i + len < n; len++) {
                    uint32_t d = t[i + len];
                    if (is_unmatched(d) || is_letter(d) || is_number(d)) break;
                }
            } else {
                i++;
                continue;
            }
        }
        if (!encode_match(tok, w, t + i, len, sink)) return false;
        i += len;
    }
    return true;
}

// ---------------------------------------------------------------------------
// BasicTokenizer (do_lower_case, no accent stripping, no punctuation split), on one piece of
// text between special tokens.

// _clean_text + _tokenize_chinese_chars into w->clean; returns the byte length.
static bool clean_piece(work* w, const uint8_t* s, size_t n, size_t* out_len, bool* ascii) {
    // A 3-byte ideograph grows to 5 bytes; nothing else grows.
    if (n > SIZE_MAX / 2 - 8 || !vec_reserve(&w->clean, 2 * n + 8, 1)) return false;
    uint8_t* out = w->clean.p;
    size_t len = 0;
    bool only_ascii = true;
    for (size_t i = 0; i < n;) {
        size_t bad, k = vkd_tok_utf8_seq(s + i, n - i, &bad);
        if (!k) {
            i += bad;  // U+FFFD, which the clean-up drops
            continue;
        }
        uint32_t c;
        if (k == 1) c = s[i];
        else if (k == 2) c = (uint32_t)(s[i] & 0x1F) << 6 | (s[i + 1] & 0x3F);
        else if (k == 3) c = (uint32_t)(s[i] & 0x0F) << 12 | (uint32_t)(s[i + 1] & 0x3F) << 6 | (s[i + 2] & 0x3F);
        else
            c = (uint32_t)(s[i] & 0x07) << 18 | (uint32_t)(s[i + 1] & 0x3F) << 12 | (uint32_t)(s[i + 2] & 0x3F) << 6 |
                (s[i + 3] & 0x3F);
        const uint8_t* src = s + i;
        i += k;
        if (c == '\t' || c == '\n' || c == '\r' || c == ' ') {
            out[len++] = ' ';
            continue;
        }
        if (c == 0 || c == 0xFFFD) continue;
        utf8proc_category_t cat = utf8proc_category((utf8proc_int32_t)c);
        if (is_other_category(cat)) continue;
        if (cat == UTF8PROC_CATEGORY_ZS) {
            out[len++] = ' ';
            continue;
        }
        bool cjk = is_cjk_ideograph(c);
        if (cjk) out[len++] = ' ';
        memcpy(out + len, src, k);
        len += k;
        if (cjk) out[len++] = ' ';
        only_ascii &= k == 1;
    }
    *out_len = len;
    *ascii = only_ascii;
    return true;
}

static bool encode_piece(const vkd_tokenizer* tok, work* w, const uint8_t* s, size_t n, vkd_tok_sink* sink) {
    size_t clen;
    bool ascii;
    if (!clean_piece(w, s, n, &clen, &ascii)) return false;
    if (clen == 0) return true;
    const utf8proc_int32_t opts = UTF8PROC_STABLE | UTF8PROC_COMPOSE;
    size_t ncp;
    if (ascii) {
        if (!vec_reserve(&w->cps, clen + 1, sizeof(utf8proc_int32_t))) return false;
        utf8proc_int32_t* cps = w->cps.p;
        const uint8_t* c = w->clean.p;
        for (size_t i = 0; i < clen; i++) cps[i] = c[i];
        ncp = clen;
    } else {
        // NFC as utf8proc_map does it, into our own buffer: canonical decomposition and
        // ordering, then composition.
        utf8proc_ssize_t r;
        for (;;) {
            r = utf8proc_decompose(w->clean.p, (utf8proc_ssize_t)clen, w->cps.p, (utf8proc_ssize_t)w->cps.cap, opts);
            if (r < 0) return false;
            if ((size_t)r <= w->cps.cap) break;
            if (!vec_reserve(&w->cps, (size_t)r, sizeof(utf8proc_int32_t))) return false;
        }
        r = utf8proc_normalize_utf32(w->cps.p, r, opts);
        if (r < 0) return false;
        ncp = (size_t)r;
    }
    const utf8proc_int32_t* cps = w->cps.p;

    // whitespace_tokenize, lower-case each word; the CLIP regex then runs per word.
    for (size_t i = 0; i < ncp;) {
        while (i < ncp && is_py_space((uint32_t)cps[i])) i++;
        size_t start = i;
        while (i < ncp && !is_py_space((uint32_t)cps[i])) i++;
        size_t len = i - start;
        if (!len) continue;
        if (!vec_reserve(&w->low, 2 * len, sizeof(uint32_t))) return false;
        uint32_t* low = w->low.p;
        const uint32_t* word = (const uint32_t*)(cps + start);
        size_t m = 0;
        for (size_t j = 0; j < len; j++) {
            uint32_t c = word[j];
            if (c < 0x80) {
                low[m++] = c >= 'A' && c <= 'Z' ? c + 32 : c;
            } else if (c == 0x130) {  // Python's full mapping: i + combining dot above
                low[m++] = 'i';
                low[m++] = 0x307;
            } else if (c == 0x3A3) {
                low[m++] = is_final_sigma(word, len, j) ? 0x3C2 : 0x3C3;
            } else {
                low[m++] = (uint32_t)utf8proc_tolower((utf8proc_int32_t)c);
            }
        }
        if (!pretokenize_word(tok, w, low, m, sink)) return false;
    }
    return true;
}

// transformers splits the text on its no-split (special) tokens first, leftmost-longest.
static bool special_at(const vkd_tokenizer* tok, const char* s, size_t n, int* which) {
    for (int k = 0; k < tok->n_special; k++) {
        if (tok->special_len[k] <= n && memcmp(s, tok->special[k], tok->special_len[k]) == 0) {
            *which = k;
            return true;
        }
    }
    return false;
}

bool vkd_tok_encode_text(const vkd_tokenizer* tok, const char* utf8, size_t len, vkd_tok_sink* sink) {
    work w = {0};
    bool ok = true;
    size_t piece = 0;
    for (size_t i = 0; ok && i <= len;) {
        int k = -1;
        if (i < len && !special_at(tok, utf8 + i, len - i, &k)) {
            i++;
            continue;
        }
        if (i > piece) ok = encode_piece(tok, &w, (const uint8_t*)utf8 + piece, i - piece, sink);
        if (ok && k >= 0) ok = emit(sink, tok->special_id[k]);
        if (k < 0) break;
        i += tok->special_len[k];
        piece = i;
    }
    work_free(&w);
    return ok && !sink->failed;
}
