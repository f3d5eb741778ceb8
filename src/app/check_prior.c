// vkdream check-prior <fixture folder> [--weights <single-file.safetensors>]
//
// Runs every golden case of a fixture folder laid out like shared/fixtures/sd-tiny (see its
// README) through vkdream's prior and prints one line per compared tensor:
//   <component> <case>: <tensor>   max|d| <value>  bound <value>  PASS|FAIL
// Pass rule: max|d| <= 1e-4 * max(1, max|ref|) for outputs and activations, <= 1e-4 * max|ref|
// for gradients; token ids and positions must be equal. Shapes come from the folder's
// configs and case files. With --weights the model weights come from that original-format
// single file (architecture still from the folder's configs) and must give the same results.
// Components this build does not have print "SKIP (not built)". Exit status 1 on any failure.
#define _POSIX_C_SOURCE 200809L
#include "app/commands.h"
#include "vkdream/gpu.h"
#include "vkdream/nn/arena.h"
#include "vkdream/prior/sd.h"
#include "vkdream/safetensors.h"

#include <cjson/cJSON.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#define MAX_BUFS 64

typedef struct cp {
    const char* dir;
    vkd_gpu* gpu;
    vkd_stream* s;
    vkd_arena arena;
    vkd_sd_model* m;
    int passed, failed, skipped;
    vkd_buffer bufs[MAX_BUFS];  // device buffers of the current case
    int nbufs;
} cp;

// ---------------------------------------------------------------------------
// Output lines

static void line(const char* what, const char* result, const char* detail) {
    printf("%-72s %s%s%s\n", what, result, detail && *detail ? " " : "", detail ? detail : "");
    fflush(stdout);
}

static void pass_fail(cp* c, const char* what, bool ok, double maxd, double bound, const char* note) {
    char detail[256];
    snprintf(detail, sizeof detail, "max|d| %.3e  bound %.3e%s%s", maxd, bound, note ? "  " : "", note ? note : "");
    printf("%-72s %-4s %s\n", what, ok ? "PASS" : "FAIL", detail);
    fflush(stdout);
    if (ok) c->passed++;
    else c->failed++;
}

static void fail(cp* c, const char* what, const char* why) {
    line(what, "FAIL", why);
    c->failed++;
}

static void skip(cp* c, const char* what, const char* why) {
    char msg[256];
    snprintf(msg, sizeof msg, "(%s)", why);
    line(what, "SKIP", msg);
    c->skipped++;
}

// ---------------------------------------------------------------------------
// Device buffers and case tensors

static void free_bufs(cp* c) {
    for (int i = 0; i < c->nbufs; i++) vkd_buffer_free(c->gpu, &c->bufs[i]);
    c->nbufs = 0;
}

static vkd_addr dev_alloc(cp* c, uint64_t n, vkd_error* err) {
    if (c->nbufs == MAX_BUFS) {
        vkd_error_set(err, VKD_ERR_OUT_OF_MEMORY, "check-prior: too many buffers in one case");
        return 0;
    }
    vkd_buffer* b = &c->bufs[c->nbufs];
    if (vkd_buffer_alloc(c->gpu, (n ? n : 1) * sizeof(float), b, err)) return 0;
    c->nbufs++;
    return b->addr;
}

static vkd_buffer* buf_of(cp* c, vkd_addr addr) {
    for (int i = 0; i < c->nbufs; i++)
        if (c->bufs[i].addr == addr) return &c->bufs[i];
    return NULL;
}

static vkd_addr dev_upload(cp* c, const void* data, uint64_t n, vkd_error* err) {
    vkd_addr a = dev_alloc(c, n, err);
    if (a && vkd_buffer_upload(c->gpu, buf_of(c, a), 0, data, n * sizeof(float), err)) return 0;
    return a;
}

static vkd_addr dev_zeros(cp* c, uint64_t n, vkd_error* err) {
    vkd_addr a = dev_alloc(c, n, err);
    if (a) vkd_stream_fill(c->s, a, (uint32_t)n, 0);
    return a;
}

// n 32-bit words at any device address (arena addresses have no vkd_buffer of their own).
static vkd_status dev_read(cp* c, vkd_addr addr, void* dst, uint64_t n, vkd_error* err) {
    vkd_buffer tmp;
    vkd_status st = vkd_buffer_alloc(c->gpu, (n ? n : 1) * sizeof(float), &tmp, err);
    if (st) return st;
    vkd_stream_copy(c->s, tmp.addr, addr, (uint32_t)n);
    st = vkd_stream_submit(c->s, err);
    if (!st) st = vkd_buffer_download(c->gpu, &tmp, 0, dst, n * sizeof(float), err);
    vkd_buffer_free(c->gpu, &tmp);
    return st;
}

// A case tensor as floats (any dtype); NULL when absent (count in *n).
static float* read_case(const vkd_safetensors* f, const char* name, uint64_t* n) {
    const vkd_tensor_info* ti = vkd_safetensors_find(f, name);
    if (!ti) return NULL;
    float* x = malloc((ti->numel ? ti->numel : 1) * sizeof(float));
    if (x && vkd_safetensors_read_f32(f, name, x, ti->numel, NULL)) {
        free(x);
        return NULL;
    }
    if (n) *n = ti->numel;
    return x;
}

// Compares host values (count floats) with case tensor `name`: forward bound
// 1e-4 max(1, max|ref|), gradient bound 1e-4 max|ref|.
static void compare_host(cp* c, const char* label, const vkd_safetensors* f, const char* name, const float* got,
                         uint64_t count, bool grad) {
    char what[256];
    snprintf(what, sizeof what, "%s: %s", label, name);
    uint64_t n = 0;
    float* ref = read_case(f, name, &n);
    if (!ref) {
        fail(c, what, "(cannot read the reference)");
        return;
    }
    if (n != count) {
        char msg[160];
        snprintf(msg, sizeof msg, "(the reference has %llu values, the module computed %llu)", (unsigned long long)n,
                 (unsigned long long)count);
        fail(c, what, msg);
        free(ref);
        return;
    }
    double maxd = 0, maxref = 0;
    bool finite = true;
    for (uint64_t i = 0; i < n; i++) {
        double d = fabs((double)got[i] - (double)ref[i]);
        finite &= isfinite(got[i]) != 0;
        if (d > maxd || d != d) maxd = d;
        if (fabs(ref[i]) > maxref) maxref = fabs(ref[i]);
    }
    double bound = grad ? 1e-4 * maxref : 1e-4 * (maxref > 1 ? maxref : 1);
    pass_fail(c, what, finite && maxd <= bound, maxd, bound, finite ? NULL : "non-finite values");
    free(ref);
}

// The same for device values at addr.
static void compare(cp* c, const char* label, const vkd_safetensors* f, const char* name, vkd_addr addr,
                    uint64_t count, bool grad) {
    float* got = malloc((count ? count : 1) * sizeof(float));
    vkd_error err = {0};
    if (!got || !addr || dev_read(c, addr, got, count, &err)) {
        char what[256];
        snprintf(what, sizeof what, "%s: %s", label, name);
        fail(c, what, addr ? err.msg : "(no output)");
    } else {
        compare_host(c, label, f, name, got, count, grad);
    }
    free(got);
}

// Integer values (host int32) against an integer case tensor: must be equal.
static void compare_host_ints(cp* c, const char* label, const vkd_safetensors* f, const char* name,
                              const int32_t* got, uint64_t count) {
    char what[256];
    snprintf(what, sizeof what, "%s: %s", label, name);
    uint64_t n = 0;
    float* ref = read_case(f, name, &n);
    if (!ref || n != count) {
        char msg[160];
        snprintf(msg, sizeof msg, "(%s: the reference has %llu values, the module %llu)",
                 ref ? "size differs" : "cannot read the reference", (unsigned long long)n,
                 (unsigned long long)count);
        fail(c, what, msg);
    } else {
        double maxd = 0;
        for (uint64_t i = 0; i < n; i++) maxd = fmax(maxd, fabs((double)got[i] - (double)ref[i]));
        pass_fail(c, what, maxd == 0, maxd, 0, NULL);
    }
    free(ref);
}

// Integer outputs (int32 on the device).
static void compare_ints(cp* c, const char* label, const vkd_safetensors* f, const char* name, vkd_addr addr,
                         uint64_t count) {
    int32_t* got = malloc((count ? count : 1) * sizeof(int32_t));
    vkd_error err = {0};
    if (!got || dev_read(c, addr, got, count, &err)) {
        char what[256];
        snprintf(what, sizeof what, "%s: %s", label, name);
        fail(c, what, err.msg);
    } else {
        compare_host_ints(c, label, f, name, got, count);
    }
    free(got);
}

static vkd_safetensors* open_case(cp* c, const char* rel, vkd_error* err) {
    char path[4096];
    snprintf(path, sizeof path, "%s/%s", c->dir, rel);
    struct stat sb;
    if (stat(path, &sb) != 0) return NULL;  // the folder has no such case
    vkd_safetensors* f = NULL;
    if (vkd_safetensors_open(path, &f, err)) {
        fail(c, rel, err->msg);
        return NULL;
    }
    return f;
}

static bool case_exists(cp* c, const char* rel) {
    char path[4096];
    snprintf(path, sizeof path, "%s/%s", c->dir, rel);
    struct stat sb;
    return stat(path, &sb) == 0;
}

// A table of named activations (device address + float count) for the act.* tensors.
typedef struct act_entry {
    char name[128];
    vkd_addr addr;
    uint64_t count;
} act_entry;

typedef struct act_table {
    act_entry e[96];
    int n;
} act_table;

static void act_add(act_table* t, vkd_addr addr, uint64_t count, const char* fmt, ...) VKD_PRINTF(4, 5);
static void act_add(act_table* t, vkd_addr addr, uint64_t count, const char* fmt, ...) {
    if (t->n == (int)(sizeof t->e / sizeof t->e[0]) || !addr) return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(t->e[t->n].name, sizeof t->e[t->n].name, fmt, ap);
    va_end(ap);
    t->e[t->n].addr = addr;
    t->e[t->n].count = count;
    t->n++;
}

// Every act.* of the case file against the table; unknown ones are reported as skipped.
static void compare_acts(cp* c, const char* label, const vkd_safetensors* f, const act_table* t) {
    for (size_t i = 0; i < vkd_safetensors_count(f); i++) {
        const char* name = vkd_safetensors_at(f, i)->name;
        if (strncmp(name, "act.", 4)) continue;
        const act_entry* e = NULL;
        for (int k = 0; k < t->n && !e; k++)
            if (!strcmp(t->e[k].name, name + 4)) e = &t->e[k];
        if (e) {
            compare(c, label, f, name, e->addr, e->count, false);
        } else {
            char what[256];
            snprintf(what, sizeof what, "%s: %s", label, name);
            skip(c, what, "activation not exposed by the module");
        }
    }
}

// Every grad_W.<param> of the case file against the parameter set's gradient.
static void compare_param_grads(cp* c, const char* label, const vkd_safetensors* f, const vkd_params* p) {
    for (size_t i = 0; i < vkd_safetensors_count(f); i++) {
        const char* name = vkd_safetensors_at(f, i)->name;
        if (strncmp(name, "grad_W.", 7)) continue;
        uint32_t idx = vkd_params_find(p, name + 7);
        if (idx == UINT32_MAX) {
            char what[256];
            snprintf(what, sizeof what, "%s: %s", label, name);
            fail(c, what, "(no such parameter)");
            continue;
        }
        compare(c, label, f, name, vkd_params_grad(p, idx), p->items[idx].count, true);
    }
}

static void case_failed(cp* c, const char* label, const vkd_error* err) {
    fail(c, label, err->msg);
}

// ---------------------------------------------------------------------------
// Tokenizer

static void check_tokenizer(cp* c) {
    char path[4096];
    snprintf(path, sizeof path, "%s/tokenizer/case_tokenize.json", c->dir);
    struct stat sb;
    if (stat(path, &sb) != 0) return;
#ifdef VKD_SD_HAVE_TOKENIZER
    vkd_error err = {0};
    char* text = NULL;
    if (vkd_sd_read_text(path, &text, NULL, &err)) {
        fail(c, "tokenizer", err.msg);
        return;
    }
    cJSON* root = cJSON_Parse(text);
    free(text);
    const cJSON* cases = root ? cJSON_GetObjectItemCaseSensitive(root, "cases") : NULL;
    if (!cJSON_IsArray(cases)) {
        fail(c, "tokenizer: case_tokenize.json", "(no \"cases\" list)");
        cJSON_Delete(root);
        return;
    }
    if (!c->m->tok) {
        fail(c, "tokenizer", "(the model has no tokenizer)");
        cJSON_Delete(root);
        return;
    }
    int max_len = vkd_tokenizer_get_info(c->m->tok).max_length;
    int idx = 0;
    const cJSON* cs;
    cJSON_ArrayForEach(cs, cases) {
        const cJSON* prompt = cJSON_GetObjectItemCaseSensitive(cs, "prompt");
        const cJSON* ids = cJSON_GetObjectItemCaseSensitive(cs, "ids");
        const cJSON* ids77 = cJSON_GetObjectItemCaseSensitive(cs, "input_ids_77");
        char what[256], shown[48];
        const char* p = cJSON_IsString(prompt) ? prompt->valuestring : "";
        // A printable prefix of the prompt (bytes < 0x20 shown as '.'), cut between UTF-8 characters.
        size_t k = 0;
        for (; p[k] && k < 32; k++) shown[k] = (unsigned char)p[k] < 0x20 ? '.' : p[k];
        while (k > 0 && p[k] && ((unsigned char)p[k] & 0xC0) == 0x80) k--;
        shown[k] = 0;
        snprintf(what, sizeof what, "tokenizer case %d \"%s%s\"", idx++, shown, p[k] ? "..." : "");
        if (!cJSON_IsString(prompt) || !cJSON_IsArray(ids)) {
            fail(c, what, "(malformed case)");
            continue;
        }
        int n = vkd_tokenizer_encode(c->m->tok, p, NULL, 0);
        int32_t* got = malloc((size_t)(n > max_len ? n : max_len) * sizeof(int32_t) + 4);
        int nref = cJSON_GetArraySize(ids);
        double maxd = 0;
        bool ok = got && n == nref;
        if (got) vkd_tokenizer_encode(c->m->tok, p, got, n);
        for (int i = 0; ok && i < n; i++) maxd = fmax(maxd, fabs(got[i] - cJSON_GetArrayItem(ids, i)->valuedouble));
        char note[96] = "";
        if (got && n != nref) snprintf(note, sizeof note, "%d ids, expected %d", n, nref);
        if (ok && cJSON_IsArray(ids77)) {
            bool truncated = false;
            int ntok = 0;
            if (vkd_tokenizer_encode_padded(c->m->tok, p, got, &ntok, &truncated, &err)) {
                ok = false;
                snprintf(note, sizeof note, "padded: %.80s", err.msg);
            } else if (cJSON_GetArraySize(ids77) != max_len) {
                ok = false;
                snprintf(note, sizeof note, "input_ids_77 has %d ids, the tokenizer pads to %d",
                         cJSON_GetArraySize(ids77), max_len);
            } else {
                for (int i = 0; i < max_len; i++)
                    maxd = fmax(maxd, fabs(got[i] - cJSON_GetArrayItem(ids77, i)->valuedouble));
            }
        }
        ok = ok && maxd == 0;
        pass_fail(c, what, ok, maxd, 0, note[0] ? note : NULL);
        free(got);
    }
    cJSON_Delete(root);
#else
    skip(c, "tokenizer: case_tokenize.json", "not built");
#endif
}

// ---------------------------------------------------------------------------
// Text encoder

static void check_text(cp* c) {
    vkd_error err = {0};
    if (!case_exists(c, "text_encoder/case_forward.safetensors")) return;
#ifdef VKD_SD_HAVE_CLIP
    const char* label = "text_encoder case_forward";
    vkd_safetensors* f = open_case(c, "text_encoder/case_forward.safetensors", &err);
    if (!f) return;
    const vkd_tensor_info* ti = vkd_safetensors_find(f, "input_ids");
    if (!ti || ti->ndim != 2) {
        fail(c, label, "(no input_ids [B, T])");
        vkd_safetensors_close(f);
        return;
    }
    const vkd_clip* m = &c->m->clip;
    uint32_t B = (uint32_t)ti->shape[0], T = (uint32_t)ti->shape[1], D = m->d.hidden_size, L = m->d.num_layers;
    float* idf = read_case(f, "input_ids", NULL);
    int32_t* ids = malloc((size_t)B * T * sizeof(int32_t));
    for (uint64_t i = 0; i < (uint64_t)B * T; i++) ids[i] = (int32_t)idf[i];
    uint64_t BTD = (uint64_t)B * T * D;
    vkd_addr gids = dev_upload(c, ids, (uint64_t)B * T, &err);
    vkd_clip_outputs out = {
        .last_hidden_state = dev_alloc(c, BTD, &err),
        .pooled = dev_alloc(c, (uint64_t)B * D, &err),
        .pool_position = dev_alloc(c, B, &err),
        .hidden_states = dev_alloc(c, (uint64_t)(L + 1) * BTD, &err),
        .hidden = dev_alloc(c, BTD, &err),
        .hidden_layer = -2,
        .hidden_final_ln = true,
    };
    if (!gids || !out.hidden) {
        case_failed(c, label, &err);
    } else {
        vkd_clip_forward(m, &c->m->text_p, c->s, &c->arena, &out, gids, B, T);
        if (vkd_stream_submit(c->s, &err)) {
            case_failed(c, label, &err);
        } else {
            if (vkd_safetensors_find(f, "last_hidden_state"))
                compare(c, label, f, "last_hidden_state", out.last_hidden_state, BTD, false);
            if (vkd_safetensors_find(f, "hidden_states"))
                compare(c, label, f, "hidden_states", out.hidden_states, (uint64_t)(L + 1) * BTD, false);
            if (vkd_safetensors_find(f, "penultimate_hidden_state") && L >= 1)
                compare(c, label, f, "penultimate_hidden_state", out.hidden_states + (uint64_t)(L - 1) * BTD * 4, BTD,
                        false);
            if (vkd_safetensors_find(f, "penultimate_hidden_state_final_ln"))
                compare(c, label, f, "penultimate_hidden_state_final_ln", out.hidden, BTD, false);
            if (vkd_safetensors_find(f, "pooler_output"))
                compare(c, label, f, "pooler_output", out.pooled, (uint64_t)B * D, false);
            if (vkd_safetensors_find(f, "eos_position")) compare_ints(c, label, f, "eos_position", out.pool_position, B);
        }
    }
    free(idf);
    free(ids);
    free_bufs(c);
    vkd_arena_reset(&c->arena);
    vkd_safetensors_close(f);
#else
    (void)err;
    skip(c, "text_encoder case_forward", "not built");
#endif
}

// ---------------------------------------------------------------------------
// UNet

#ifdef VKD_SD_HAVE_UNET
// One UNet case: forward (out and every act.* the file has), and with a cotangent the
// backward to the sample, the conditioning and the listed weights.
static void unet_case(cp* c, const char* rel, const char* label) {
    vkd_error err = {0};
    vkd_safetensors* f = open_case(c, rel, &err);
    if (!f) return;
    const vkd_unet* m = &c->m->unet;
    const vkd_params* p = &c->m->unet_p;
    const vkd_tensor_info* si = vkd_safetensors_find(f, "sample");
    const vkd_tensor_info* ci = vkd_safetensors_find(f, "encoder_hidden_states");
    if (!si || !ci || si->ndim != 4 || ci->ndim != 3 || si->shape[1] != m->d.in_channels ||
        ci->shape[2] != m->d.cross_attention_dim) {
        fail(c, label, "(needs sample [B, in_channels, h, w] and encoder_hidden_states [B, T, cross_attention_dim])");
        vkd_safetensors_close(f);
        return;
    }
    uint32_t B = (uint32_t)si->shape[0], H = (uint32_t)si->shape[2], W = (uint32_t)si->shape[3];
    uint32_t T = (uint32_t)ci->shape[1], Dc = (uint32_t)ci->shape[2], OC = m->d.out_channels;
    uint64_t ns = (uint64_t)B * m->d.in_channels * H * W, no = (uint64_t)B * OC * H * W, nc = (uint64_t)B * T * Dc;
    float* sample = read_case(f, "sample", NULL);
    float* ctx = read_case(f, "encoder_hidden_states", NULL);
    float* ts = read_case(f, "timestep", NULL);
    float* cot = read_case(f, "cotangent", NULL);
    vkd_addr gs = dev_upload(c, sample, ns, &err), gc = dev_upload(c, ctx, nc, &err);
    vkd_addr gt = ts ? dev_upload(c, ts, B, &err) : 0, out = dev_alloc(c, no, &err);
    vkd_addr gcot = cot ? dev_upload(c, cot, no, &err) : 0;
    vkd_addr ds = cot ? dev_zeros(c, ns, &err) : 0, dc = cot ? dev_zeros(c, nc, &err) : 0;
    if (!gs || !gc || !gt || !out || (cot && (!gcot || !dc))) {
        case_failed(c, label, &err);
    } else {
        vkd_unet_saved* sv = cot ? vkd_unet_saved_new() : NULL;
        vkd_unet_acts acts = {0};
        if (cot) vkd_params_zero_grad(p, c->s);
        vkd_unet_forward(m, p, NULL, c->s, &c->arena, out, gs, gt, gc, 0, B, H, W, T, sv, &acts);
        if (cot) vkd_unet_backward(m, p, NULL, c->s, &c->arena, ds, dc, 0, gcot, sv);
        if (vkd_stream_submit(c->s, &err)) {
            case_failed(c, label, &err);
        } else {
            compare(c, label, f, "out", out, no, false);
            act_table t = {0};
            uint32_t c0 = m->d.block_out_channels[0], nb = m->d.num_blocks;
            act_add(&t, acts.time_proj, (uint64_t)B * c0, "time_proj");
            act_add(&t, acts.temb, (uint64_t)B * 4 * c0, "time_embedding");
            act_add(&t, acts.conv_in, (uint64_t)B * c0 * H * W, "conv_in");
            act_add(&t, acts.down_res0, (uint64_t)B * c0 * H * W, "down_blocks.0.resnets.0");
            act_add(&t, acts.down_attn0, (uint64_t)B * c0 * H * W, "down_blocks.0.attentions.0");
            for (uint32_t i = 0; i < nb; i++) {
                uint32_t di = i + 1 < nb ? i + 1 : i, ui = i + 1 < nb ? i + 1 : i;
                act_add(&t, acts.down[i], (uint64_t)B * m->d.block_out_channels[i] * (H >> di) * (W >> di),
                        "down_blocks.%u", i);
                uint32_t uc = m->d.block_out_channels[nb - 1 - i], us = nb - 1 - ui;
                act_add(&t, acts.up[i], (uint64_t)B * uc * (H >> us) * (W >> us), "up_blocks.%u", i);
            }
            uint32_t top = m->d.block_out_channels[nb - 1];
            act_add(&t, acts.mid, (uint64_t)B * top * (H >> (nb - 1)) * (W >> (nb - 1)), "mid_block");
            act_add(&t, acts.conv_act, (uint64_t)B * c0 * H * W, "conv_act");
            act_add(&t, out, no, "conv_out");
            act_add(&t, acts.conv_norm_out, (uint64_t)B * c0 * H * W, "conv_norm_out");  // the output is conv_out's
            compare_acts(c, label, f, &t);
            if (cot) {
                compare(c, label, f, "grad_sample", ds, ns, true);
                compare(c, label, f, "grad_encoder_hidden_states", dc, nc, true);
                compare_param_grads(c, label, f, p);
            }
        }
        vkd_unet_saved_free(sv);
    }
    free(sample), free(ctx), free(ts), free(cot);
    free_bufs(c);
    vkd_arena_reset(&c->arena);
    vkd_safetensors_close(f);
}
#endif

static void check_unet(cp* c) {
    static const char* cases[] = {"unet/case_forward.safetensors", "unet/case_forward_77tok.safetensors",
                                  "unet/case_backward.safetensors"};
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        if (!case_exists(c, cases[i])) continue;
        char what[256];
        snprintf(what, sizeof what, "%s", cases[i]);
        *strrchr(what, '.') = 0;
        *strchr(what, '/') = ' ';
#ifdef VKD_SD_HAVE_UNET
        unet_case(c, cases[i], what);
#else
        skip(c, what, "not built");
#endif
    }
}

// ---------------------------------------------------------------------------
// VAE

#ifdef VKD_SD_HAVE_VAE
static void vae_encode(cp* c) {
    vkd_error err = {0};
    const char* label = "vae case_encode";
    vkd_safetensors* f = open_case(c, "vae/case_encode.safetensors", &err);
    if (!f) return;
    const vkd_vae* m = &c->m->vae;
    const vkd_params* p = &c->m->vae_p;
    const vkd_tensor_info* ti = vkd_safetensors_find(f, "image");
    if (!ti || ti->ndim != 4 || ti->shape[1] != m->d.in_channels) {
        fail(c, label, "(no image [B, in_channels, H, W])");
        vkd_safetensors_close(f);
        return;
    }
    uint32_t B = (uint32_t)ti->shape[0], H = (uint32_t)ti->shape[2], W = (uint32_t)ti->shape[3], h, w;
    uint32_t L = m->d.latent_channels, nb = m->d.num_blocks;
    vkd_vae_latent_size(m, H, W, &h, &w);
    uint64_t lat = (uint64_t)B * L * h * w;
    float* image = read_case(f, "image", NULL);
    float* cot = read_case(f, "cotangent", NULL);
    vkd_addr gimg = dev_upload(c, image, (uint64_t)B * m->d.in_channels * H * W, &err);
    vkd_addr mom = dev_alloc(c, 2 * lat, &err);
    vkd_addr mean = dev_alloc(c, lat, &err), logvar = dev_alloc(c, lat, &err), stdv = dev_alloc(c, lat, &err);
    vkd_addr gcot = cot ? dev_upload(c, cot, lat, &err) : 0;
    vkd_addr dmom = dev_zeros(c, 2 * lat, &err);
    vkd_addr dimg = dev_zeros(c, (uint64_t)B * m->d.in_channels * H * W, &err);
    if (!gimg || !dimg || !stdv || !dmom || (cot && !gcot)) {
        case_failed(c, label, &err);
    } else {
        vkd_vae_encode_saved sv;
        vkd_params_zero_grad(p, c->s);
        vkd_vae_encode_forward(m, p, c->s, &c->arena, mom, gimg, B, H, W, &sv);
        vkd_vae_posterior_forward(c->s, mean, logvar, stdv, 0, mom, 0, B, L, h * w);
        if (gcot) {
            // d<mean, g>/d image: the encoder backward latent-space SDS uses.
            vkd_vae_posterior_backward(c->s, dmom, gcot, 0, 0, 0, mom, 0, B, L, h * w);
            vkd_vae_encode_backward(m, p, c->s, &c->arena, dimg, dmom, &sv);
        }
        if (vkd_stream_submit(c->s, &err)) {
            case_failed(c, label, &err);
        } else {
            const char* outs[][2] = {{"moments", "2"}, {"mean", "1"}, {"logvar", "1"}, {"std", "1"}};
            vkd_addr addrs[] = {mom, mean, logvar, stdv};
            for (int k = 0; k < 4; k++)
                if (vkd_safetensors_find(f, outs[k][0]))
                    compare(c, label, f, outs[k][0], addrs[k], lat * (uint64_t)(outs[k][1][0] - '0'), false);
            act_table t = {0};
            const uint32_t* bo = m->d.block_out_channels;
            act_add(&t, sv.conv_in, (uint64_t)B * bo[0] * H * W, "encoder.conv_in");
            for (uint32_t i = 0; i < nb; i++) {
                uint64_t in_block = (uint64_t)B * bo[i] * sv.bh[i] * sv.bw[i];
                for (uint32_t j = 0; j < m->d.layers_per_block; j++)
                    act_add(&t, sv.res_out[i][j], in_block, "encoder.down_blocks.%u.resnets.%u", i, j);
                uint64_t out_block = i + 1 < nb ? (uint64_t)B * bo[i] * sv.bh[i + 1] * sv.bw[i + 1] : in_block;
                act_add(&t, sv.block_out[i], out_block, "encoder.down_blocks.%u", i);
            }
            uint64_t bottom = (uint64_t)B * bo[nb - 1] * h * w;
            act_add(&t, sv.mid_out, bottom, "encoder.mid_block");
            act_add(&t, sv.norm_out, bottom, "encoder.conv_norm_out");
            act_add(&t, sv.act, bottom, "encoder.conv_act");
            act_add(&t, sv.conv_out, 2 * lat, "encoder.conv_out");
            act_add(&t, mom, 2 * lat, "quant_conv");
            compare_acts(c, label, f, &t);
            if (gcot) {
                if (vkd_safetensors_find(f, "grad_image"))
                    compare(c, label, f, "grad_image", dimg, (uint64_t)B * m->d.in_channels * H * W, true);
                compare_param_grads(c, label, f, p);
            }
        }
    }
    free(image);
    free(cot);
    free_bufs(c);
    vkd_arena_reset(&c->arena);
    vkd_safetensors_close(f);
}

static void vae_decode(cp* c) {
    vkd_error err = {0};
    const char* label = "vae case_decode";
    vkd_safetensors* f = open_case(c, "vae/case_decode.safetensors", &err);
    if (!f) return;
    const vkd_vae* m = &c->m->vae;
    const vkd_params* p = &c->m->vae_p;
    const vkd_tensor_info* ti = vkd_safetensors_find(f, "latent");
    if (!ti || ti->ndim != 4 || ti->shape[1] != m->d.latent_channels) {
        fail(c, label, "(no latent [B, latent_channels, h, w])");
        vkd_safetensors_close(f);
        return;
    }
    uint32_t B = (uint32_t)ti->shape[0], h = (uint32_t)ti->shape[2], w = (uint32_t)ti->shape[3];
    uint32_t L = m->d.latent_channels, nb = m->d.num_blocks, up = 1u << (nb - 1);
    uint32_t H = h * up, W = w * up, OC = m->d.out_channels;
    uint64_t npix = (uint64_t)B * OC * H * W, lat = (uint64_t)B * L * h * w;
    float* latent = read_case(f, "latent", NULL);
    float* cot = read_case(f, "cotangent", NULL);
    vkd_addr glat = dev_upload(c, latent, lat, &err);
    vkd_addr img = dev_alloc(c, npix, &err);
    vkd_addr gcot = cot ? dev_upload(c, cot, npix, &err) : 0;
    vkd_addr dlat = dev_zeros(c, lat, &err);
    if (!glat || !img || !dlat || (cot && !gcot)) {
        case_failed(c, label, &err);
    } else {
        vkd_vae_decode_saved sv;
        vkd_params_zero_grad(p, c->s);
        vkd_vae_decode_forward(m, p, c->s, &c->arena, img, glat, B, h, w, &sv);
        if (gcot) vkd_vae_decode_backward(m, p, c->s, &c->arena, dlat, gcot, &sv);
        if (vkd_stream_submit(c->s, &err)) {
            case_failed(c, label, &err);
        } else {
            if (vkd_safetensors_find(f, "image")) compare(c, label, f, "image", img, npix, false);
            act_table t = {0};
            const uint32_t* bo = m->d.block_out_channels;
            uint64_t bottom = (uint64_t)B * bo[nb - 1] * h * w;
            act_add(&t, sv.post_quant, lat, "post_quant_conv");
            act_add(&t, sv.conv_in, bottom, "decoder.conv_in");
            act_add(&t, sv.mid_out, bottom, "decoder.mid_block");
            for (uint32_t i = 0; i < nb; i++) {
                uint32_t ch = bo[nb - 1 - i];
                uint64_t in_block = (uint64_t)B * ch * sv.bh[i] * sv.bw[i];
                for (uint32_t j = 0; j <= m->d.layers_per_block; j++)
                    act_add(&t, sv.res_out[i][j], in_block, "decoder.up_blocks.%u.resnets.%u", i, j);
                act_add(&t, sv.block_out[i], i + 1 < nb ? 4 * in_block : in_block, "decoder.up_blocks.%u", i);
            }
            act_add(&t, sv.norm_out, (uint64_t)B * bo[0] * H * W, "decoder.conv_norm_out");
            act_add(&t, sv.act, (uint64_t)B * bo[0] * H * W, "decoder.conv_act");
            act_add(&t, img, npix, "decoder.conv_out");
            compare_acts(c, label, f, &t);
            if (gcot) {
                if (vkd_safetensors_find(f, "grad_latent")) compare(c, label, f, "grad_latent", dlat, lat, true);
                compare_param_grads(c, label, f, p);
            }
        }
    }
    free(latent);
    free(cot);
    free_bufs(c);
    vkd_arena_reset(&c->arena);
    vkd_safetensors_close(f);
}
#endif

static void check_vae(cp* c) {
#ifdef VKD_SD_HAVE_VAE
    vae_encode(c);
    vae_decode(c);
#else
    if (case_exists(c, "vae/case_encode.safetensors")) skip(c, "vae case_encode", "not built");
    if (case_exists(c, "vae/case_decode.safetensors")) skip(c, "vae case_decode", "not built");
#endif
}

// ---------------------------------------------------------------------------
// Scheduler

static void check_scheduler(cp* c) {
#ifdef VKD_SD_HAVE_SCHEDULER
    vkd_error err = {0};
    vkd_scheduler* sc = &c->m->sched;
    uint32_t N = sc->d.num_train_timesteps;
    vkd_safetensors* f = open_case(c, "scheduler/alphas_cumprod.safetensors", &err);
    if (f) {
        const char* label = "scheduler alphas_cumprod";
        if (vkd_safetensors_find(f, "alphas_cumprod")) compare_host(c, label, f, "alphas_cumprod", sc->alphas_cumprod, N, false);
        if (vkd_safetensors_find(f, "betas")) compare_host(c, label, f, "betas", sc->betas, N, false);
        vkd_safetensors_close(f);
    }
    f = open_case(c, "scheduler/case_add_noise.safetensors", &err);
    if (!f) return;
    const char* label = "scheduler case_add_noise";
    const vkd_tensor_info* ti = vkd_safetensors_find(f, "original_samples");
    const vkd_tensor_info* tt = vkd_safetensors_find(f, "timesteps");
    if (!ti || !tt || ti->ndim < 1 || tt->numel != (uint64_t)ti->shape[0]) {
        fail(c, label, "(needs original_samples [B, ...] and timesteps [B])");
        vkd_safetensors_close(f);
        return;
    }
    uint32_t B = (uint32_t)ti->shape[0];
    uint64_t total = ti->numel, n = total / B;
    float* x0 = read_case(f, "original_samples", NULL);
    float* noise = read_case(f, "noise", NULL);
    float* ts = read_case(f, "timesteps", NULL);
    vkd_addr gx0 = dev_upload(c, x0, total, &err);
    vkd_addr gnoise = noise ? dev_upload(c, noise, total, &err) : 0;
    vkd_addr gts = dev_upload(c, ts, B, &err);
    vkd_addr noisy = dev_alloc(c, total, &err), vel = dev_alloc(c, total, &err);
    if (!gx0 || !gnoise || !gts || !vel) {
        case_failed(c, label, &err);
    } else {
        vkd_scheduler_add_noise(sc, c->s, noisy, gx0, gnoise, gts, B, (uint32_t)n);
        vkd_scheduler_velocity(sc, c->s, vel, gx0, gnoise, gts, B, (uint32_t)n);
        if (vkd_stream_submit(c->s, &err)) {
            case_failed(c, label, &err);
        } else {
            if (vkd_safetensors_find(f, "noisy_samples")) compare(c, label, f, "noisy_samples", noisy, total, false);
            if (vkd_safetensors_find(f, "velocity")) compare(c, label, f, "velocity", vel, total, false);
        }
    }
    // set_timesteps(n) for every inference_timesteps_<n> the case holds.
    for (size_t i = 0; i < vkd_safetensors_count(f); i++) {
        const vkd_tensor_info* t = vkd_safetensors_at(f, i);
        if (strncmp(t->name, "inference_timesteps_", 20)) continue;
        uint32_t steps = (uint32_t)strtoul(t->name + 20, NULL, 10);
        if (vkd_scheduler_set_timesteps(sc, steps, &err)) {
            char what[256];
            snprintf(what, sizeof what, "%s: %s", label, t->name);
            fail(c, what, err.msg);
        } else {
            compare_host_ints(c, label, f, t->name, sc->timesteps, sc->num_inference_steps);
        }
    }
    free(x0);
    free(noise);
    free(ts);
    free_bufs(c);
    vkd_safetensors_close(f);
#else
    if (case_exists(c, "scheduler/case_add_noise.safetensors")) skip(c, "scheduler case_add_noise", "not built");
#endif
}

// ---------------------------------------------------------------------------

static void usage(FILE* f) {
    fprintf(f,
            "usage: vkdream check-prior <fixture folder> [--weights <single-file.safetensors>]\n"
            "\n"
            "Checks vkdream's Stable Diffusion prior against golden reference cases: a folder laid out\n"
            "like shared/fixtures/sd-tiny (a diffusers model: unet/, vae/, text_encoder/, tokenizer/,\n"
            "scheduler/, each with config and case_*.safetensors files). Prints one line per compared\n"
            "tensor with max|d| and its bound (1e-4 * max(1, max|ref|); gradients 1e-4 * max|ref|;\n"
            "token ids exact), and exits 1 when any comparison fails.\n"
            "\n"
            "  --weights <file>  take the weights from this original-format single file\n"
            "                    (model.diffusion_model.*, first_stage_model.*, cond_stage_model.*)\n"
            "                    instead of the folder's; architecture from the folder's configs.\n"
            "                    Make one with tools/sd_convert.\n");
}

int vkd_cmd_check_prior(int argc, char** argv) {
    const char* dir = NULL;
    const char* weights = NULL;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) {
            usage(stdout);
            return 0;
        } else if (!strcmp(argv[i], "--weights") && i + 1 < argc) {
            weights = argv[++i];
        } else if (argv[i][0] == '-' || dir) {
            fprintf(stderr, "check-prior: unexpected argument '%s'\n\n", argv[i]);
            usage(stderr);
            return 2;
        } else {
            dir = argv[i];
        }
    }
    if (!dir) {
        usage(stderr);
        return 2;
    }
    cp c = {.dir = dir};
    vkd_error err = {0};
    if (vkd_gpu_create(&(vkd_gpu_desc){0}, &c.gpu, &err) || vkd_stream_create(c.gpu, &c.s, &err)) {
        fprintf(stderr, "check-prior: %s\n", err.msg);
        if (c.gpu) vkd_gpu_destroy(c.gpu);
        return 1;
    }
    c.arena.gpu = c.gpu;
    char tokdir[4096];
    snprintf(tokdir, sizeof tokdir, "%s/tokenizer", dir);
    struct stat sb;
    vkd_sd_load_desc ld = {
        .tokenizer_dir = stat(tokdir, &sb) == 0 ? tokdir : NULL,
        .config_dir = weights ? dir : NULL,
        .unet_grad = true,
        .vae_grad = true,
#ifndef VKD_SD_HAVE_UNET
        .no_unet = true,
#endif
    };
    printf("check-prior %s%s%s on %s\n", dir, weights ? " with weights from " : "", weights ? weights : "",
           vkd_gpu_get_info(c.gpu)->name);
    int rc = 0;
    if (vkd_sd_load(c.gpu, weights ? weights : dir, &ld, &c.m, &err)) {
        fprintf(stderr, "check-prior: %s\n", err.msg);
        printf("check-prior: loading failed: %s\n", err.msg);
        rc = 1;
    } else {
        check_tokenizer(&c);
        check_text(&c);
        check_unet(&c);
        check_vae(&c);
        check_scheduler(&c);
        printf("check-prior: %d passed, %d failed, %d skipped\n", c.passed, c.failed, c.skipped);
        rc = c.failed ? 1 : 0;
    }
    vkd_sd_free(c.m);
    vkd_arena_free(&c.arena);
    vkd_stream_destroy(c.s);
    uint32_t msgs = vkd_gpu_validation_messages(c.gpu);
    vkd_gpu_destroy(c.gpu);
    if (msgs) {
        printf("check-prior: %u validation-layer messages\n", msgs);
        rc = 1;
    }
    return rc;
}
