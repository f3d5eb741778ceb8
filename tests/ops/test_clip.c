// CLIP text encoder (src/prior/clip*.c): config parsing and the SD1/SD2 defaults, the
// golden sd-tiny text encoder (transformers CLIPTextModel: every hidden state, the
// penultimate with and without final_layer_norm, the pooled output at EOS, clip skip
// through the encode convenience), the float64 reference on configs the fixture does
// not cover (gelu, EOS-id pooling, T < 77, the fused q/k/v GEMM), and the loader's errors
// for bad weight files. VKD_CLIP_BENCH=1 also times an SD-1.5-shaped encoder (B = 2).
#define _POSIX_C_SOURCE 200809L  // getpid, clock_gettime
#include "harness.h"
#include "vkdream/nn/arena.h"
#include "vkdream/nn/layernorm.h"
#include "vkdream/nn/params.h"
#include "vkdream/prior/clip.h"
#include "vkdream/safetensors.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static bool has(const char* msg, const char* part) { return strstr(msg, part) != NULL; }

// The pass rule of PRIOR.md: max|d| <= 1e-4 * max(1, max|ref|).
static bool expect_rule(tu_ctx* t, const char* what, const double* got, const double* ref, size_t n) {
    double m = 0;
    for (size_t i = 0; i < n; i++)
        if (fabs(ref[i]) > m) m = fabs(ref[i]);
    return tu_check_close(t, what, got, ref, n, 0.0, 1e-4 * (m > 1 ? m : 1));
}

static bool expect_buf_rule(tu_ctx* t, const char* what, tu_buf b, const double* ref) {
    double* got = tu_download_d(t, b);
    bool ok = expect_rule(t, what, got, ref, b.n);
    free(got);
    return ok;
}

// Device int32 ids from host ids (the harness's buffers hold 32-bit words).
static tu_buf upload_ids(tu_ctx* t, const int32_t* ids, size_t n) {
    float* f = malloc(n * sizeof(float));
    memcpy(f, ids, n * sizeof(float));
    tu_buf b = tu_upload_f(t, f, n);
    free(f);
    return b;
}

static int32_t* download_i32(tu_ctx* t, tu_buf b) {
    int32_t* r = malloc(b.n * sizeof(int32_t));
    vkd_error e = {0};
    if (vkd_buffer_download(t->gpu, &b.b, 0, r, b.n * sizeof(int32_t), &e)) memset(r, 0xff, b.n * sizeof(int32_t));
    return r;
}

// ---------------------------------------------------------------------------
// Config

static void config_cases(tu_ctx* t) {
    tu_case(t, "config: sd-tiny text_encoder/config.json");
    char path[1024];
    tu_fixture_path(path, sizeof path, "text_encoder/config.json");
    vkd_clip_desc d;
    vkd_error err = {0};
    vkd_status st = vkd_clip_config_load(path, &d, &err);
    if (tu_check(t, st == VKD_OK, "load: %s", st ? err.msg : "ok")) {
        tu_check(t, d.kind == VKD_CLIP_HF && d.vocab_size == 1000 && d.hidden_size == 32 && d.intermediate_size == 37 &&
                        d.num_layers == 2 && d.num_heads == 4 && d.max_positions == 77 &&
                        d.act == VKD_CLIP_ACT_QUICK_GELU && d.layer_norm_eps == 1e-5f,
                 "sizes vocab %u D %u I %u L %u H %u P %u act %d eps %g", d.vocab_size, d.hidden_size,
                 d.intermediate_size, d.num_layers, d.num_heads, d.max_positions, (int)d.act, (double)d.layer_norm_eps);
        tu_check(t, d.bos_token_id == 0 && d.eos_token_id == 2 && d.pad_token_id == 1 && d.pool == VKD_CLIP_POOL_ARGMAX,
                 "ids bos %d eos %d pad %d, eos 2 pools at argmax (%d)", d.bos_token_id, d.eos_token_id,
                 d.pad_token_id, (int)d.pool);
        tu_check(t, d.cond_layer == 2, "conditioning layer %u = L", d.cond_layer);
    }
    tu_check(t, vkd_clip_config_load("/nonexistent/config.json", &d, &err) == VKD_ERR_IO &&
                    has(err.msg, "/nonexistent/config.json"),
             "missing file: %s", err.msg);

    tu_case(t, "config: parse rules and errors");
    const char* sd2 = "{\"text_config\": {\"hidden_size\": 1024, \"intermediate_size\": 4096, \"num_hidden_layers\": 23,"
                      "\"num_attention_heads\": 16, \"hidden_act\": \"gelu\", \"eos_token_id\": 49407,"
                      "\"vocab_size\": 49408}}";
    st = vkd_clip_config_parse(sd2, strlen(sd2), "sd2.json", &d, &err);
    tu_check(t, st == VKD_OK && d.hidden_size == 1024 && d.num_layers == 23 && d.act == VKD_CLIP_ACT_GELU &&
                    d.pool == VKD_CLIP_POOL_EOS_ID && d.eos_token_id == 49407 && d.cond_layer == 23 &&
                    d.max_positions == 77,
             "nested text_config, gelu, eos 49407 pools at the first EOS: %s", st ? err.msg : "ok");
    static const struct {
        const char* json;
        const char* part;  // the error must mention it
    } bad[] = {
        {"{\"hidden_size\": 30, \"num_attention_heads\": 4}", "num_attention_heads 4 does not divide hidden_size 30"},
        {"{\"hidden_act\": \"swish\"}", "swish"},
        {"{\"hidden_size\": 32.5}", "\"hidden_size\""},
        {"{\"num_hidden_layers\": \"2\"}", "\"num_hidden_layers\""},
        {"{\"layer_norm_eps\": -1}", "\"layer_norm_eps\""},
        {"{\"eos_token_id\": 5000, \"vocab_size\": 1000}", "eos_token_id 5000"},
        {"[1, 2]", "not a JSON object"},
        {"{\"hidden_size\": ", "not a JSON object"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        err.msg[0] = 0;
        st = vkd_clip_config_parse(bad[i].json, strlen(bad[i].json), "x.json", &d, &err);
        tu_check(t, st != VKD_OK && has(err.msg, bad[i].part) && has(err.msg, "x.json"), "%s -> %s", bad[i].json,
                 err.msg);
    }

    tu_case(t, "desc: SD1 and SD2 (OpenCLIP-H) defaults and declared parameters");
    vkd_params p = {0};
    vkd_clip m;
    st = vkd_clip_declare(&m, &p, NULL, &(vkd_clip_desc){0}, &err);
    tu_check(t, st == VKD_OK && m.d.hidden_size == 768 && m.d.num_layers == 12 && m.d.num_heads == 12 &&
                    m.d.intermediate_size == 3072 && m.d.act == VKD_CLIP_ACT_QUICK_GELU && m.d.cond_layer == 12 &&
                    m.d.vocab_size == 49408,
             "SD1 defaults: %s", st ? err.msg : "ok");
    tu_check(t, p.count == 2 + 16 * 12 + 2, "SD1: %u parameters declared", p.count);
    uint64_t floats = 0;
    for (uint32_t i = 0; i < p.count; i++) floats += p.items[i].count;
    tu_check(t, floats == 123060480ull, "SD1: %llu floats (CLIP ViT-L/14 text: 123060480)", (unsigned long long)floats);
    uint32_t i5 = vkd_params_find(&p, "text_model.encoder.layers.5.mlp.fc1.weight");
    tu_check(t, i5 != UINT32_MAX && p.items[i5].shape[0] == 3072 && p.items[i5].shape[1] == 768,
             "layers.5.mlp.fc1.weight is [3072,768]");
    vkd_params_free(&p);
    for (uint32_t L = 23; L <= 24; L++) {
        p = (vkd_params){0};
        st = vkd_clip_declare(&m, &p, "cond_stage_model.", &(vkd_clip_desc){.kind = VKD_CLIP_OPENCLIP_H, .num_layers = L},
                              &err);
        tu_check(t, st == VKD_OK && m.d.hidden_size == 1024 && m.d.num_heads == 16 && m.d.intermediate_size == 4096 &&
                        m.d.act == VKD_CLIP_ACT_GELU && m.d.cond_layer == 23,
                 "OpenCLIP-H with %u layers: width %u heads %u mlp %u gelu, conditioning layer %u (%s)", L,
                 m.d.hidden_size, m.d.num_heads, m.d.intermediate_size, m.d.cond_layer, st ? err.msg : "ok");
        tu_check(t, vkd_clip_skip_layer(&m, 1) == 23 && vkd_clip_skip_layer(&m, 2) == 22 &&
                        vkd_clip_skip_layer(&m, 0) == 23 && vkd_clip_skip_layer(&m, 24) == -1,
                 "clip skip 0/1/2/24 -> layer %d/%d/%d/%d", vkd_clip_skip_layer(&m, 0), vkd_clip_skip_layer(&m, 1),
                 vkd_clip_skip_layer(&m, 2), vkd_clip_skip_layer(&m, 24));
        tu_check(t, vkd_params_find(&p, "cond_stage_model.text_model.final_layer_norm.bias") != UINT32_MAX,
                 "prefix is prepended");
        vkd_params_free(&p);
    }
    p = (vkd_params){0};
    st = vkd_clip_declare(&m, &p, "te.", &(vkd_clip_desc){.num_layers = 4, .cond_layer = 5}, &err);
    tu_check(t, st == VKD_ERR_INVALID && has(err.msg, "cond_layer 5") && has(err.msg, "te."), "cond_layer > L: %s",
             err.msg);
    vkd_params_free(&p);
}

// ---------------------------------------------------------------------------
// Golden sd-tiny text encoder.

typedef struct golden {
    vkd_safetensors* f;
    size_t B, T, D, L;
    int32_t* ids;
} golden;

static double* read_d(tu_ctx* t, vkd_safetensors* f, const char* name, size_t n) {
    float* buf = malloc(n * sizeof(float));
    vkd_error err = {0};
    vkd_status st = vkd_safetensors_read_f32(f, name, buf, n, &err);
    tu_check(t, st == VKD_OK, "read %s: %s", name, st ? err.msg : "ok");
    double* d = tu_alloc_d(n);
    for (size_t i = 0; i < n && !st; i++) d[i] = buf[i];
    free(buf);
    return d;
}

static void golden_cases(tu_ctx* t) {
    tu_case(t, "golden sd-tiny text encoder: load");
    char cfg_path[1024], w_path[1024], case_path[1024];
    tu_fixture_path(cfg_path, sizeof cfg_path, "text_encoder/config.json");
    tu_fixture_path(w_path, sizeof w_path, "text_encoder/model.safetensors");
    tu_fixture_path(case_path, sizeof case_path, "text_encoder/case_forward.safetensors");
    vkd_error err = {0};
    vkd_clip_desc d;
    vkd_clip m;
    vkd_params p = {0};
    vkd_safetensors *wf = NULL, *cf = NULL;
    if (!tu_check(t, vkd_clip_config_load(cfg_path, &d, &err) == VKD_OK, "config: %s", err.msg)) return;
    if (!tu_check(t, vkd_clip_declare(&m, &p, NULL, &d, &err) == VKD_OK, "declare: %s", err.msg)) return;
    bool ok = tu_check(t, vkd_params_alloc(t->gpu, &p, false, &err) == VKD_OK, "alloc: %s", err.msg) &&
              tu_check(t, vkd_safetensors_open(w_path, &wf, &err) == VKD_OK, "open: %s", err.msg) &&
              tu_check(t, vkd_params_load(&p, wf, NULL, &err) == VKD_OK, "load: %s", err.msg) &&
              tu_check(t, vkd_safetensors_count(wf) == p.count, "the file has %zu tensors, %u declared",
                       vkd_safetensors_count(wf), p.count) &&
              tu_check(t, vkd_safetensors_open(case_path, &cf, &err) == VKD_OK, "open case: %s", err.msg);
    const vkd_tensor_info* ti = ok ? vkd_safetensors_find(cf, "input_ids") : NULL;
    ok = ok && tu_check(t, ti && ti->ndim == 2 && ti->shape[1] == 77, "input_ids [B, 77]");
    if (!ok) {
        vkd_safetensors_close(wf);
        vkd_safetensors_close(cf);
        vkd_params_free(&p);
        return;
    }
    const uint32_t B = (uint32_t)ti->shape[0], T = 77, D = m.d.hidden_size, L = m.d.num_layers;
    const size_t N = (size_t)B * T, ND = N * D;
    double* idd = read_d(t, cf, "input_ids", N);
    int32_t* ids = malloc(N * sizeof(int32_t));
    for (size_t i = 0; i < N; i++) ids[i] = (int32_t)idd[i];
    free(idd);
    double* last = read_d(t, cf, "last_hidden_state", ND);
    double* hs = read_d(t, cf, "hidden_states", (L + 1) * ND);
    double* pen = read_d(t, cf, "penultimate_hidden_state", ND);
    double* pen_ln = read_d(t, cf, "penultimate_hidden_state_final_ln", ND);
    double* pooled = read_d(t, cf, "pooler_output", (size_t)B * D);
    double* eos = read_d(t, cf, "eos_position", B);
    double* last64 = read_d(t, cf, "last_hidden_state_f64ref", ND);
    int32_t host_pos[8] = {0};
    vkd_clip_pool_positions(&m, ids, B, T, host_pos);
    tu_check(t, B <= 8 && host_pos[0] == (int32_t)eos[0] && host_pos[B - 1] == (int32_t)eos[B - 1],
             "host pooling positions %d, %d = eos_position %g, %g", host_pos[0], host_pos[B - 1], eos[0], eos[B - 1]);

    vkd_arena a = {.gpu = t->gpu, .chunk_bytes = 1 << 20};
    tu_buf gids = upload_ids(t, ids, N);

    tu_case(t, "golden sd-tiny text encoder: all outputs in one forward");
    tu_buf g_last = tu_alloc(t, ND), g_pool = tu_alloc(t, (size_t)B * D), g_pos = tu_alloc(t, B),
           g_hs = tu_alloc(t, (L + 1) * ND), g_h = tu_alloc(t, ND);
    vkd_clip_outputs o = {.last_hidden_state = g_last.addr, .pooled = g_pool.addr, .pool_position = g_pos.addr,
                          .hidden_states = g_hs.addr, .hidden = g_h.addr, .hidden_layer = -2};
    vkd_clip_forward(&m, &p, t->s, &a, &o, gids.addr, B, T);
    tu_run(t);
    expect_buf_rule(t, "last_hidden_state", g_last, last);
    expect_buf_rule(t, "last_hidden_state vs its float64 reference", g_last, last64);
    double* got_hs = tu_download_d(t, g_hs);
    for (uint32_t i = 0; i <= L; i++) {
        char what[64];
        snprintf(what, sizeof what, "hidden_states[%u]", i);
        expect_rule(t, what, got_hs + i * ND, hs + i * ND, ND);
    }
    free(got_hs);
    expect_buf_rule(t, "penultimate_hidden_state (hidden_layer -2, raw)", g_h, pen);
    expect_buf_rule(t, "pooler_output", g_pool, pooled);
    int32_t* gp = download_i32(t, g_pos);
    bool pos_ok = true;
    for (uint32_t b = 0; b < B; b++) pos_ok &= gp[b] == (int32_t)eos[b];
    tu_check(t, pos_ok, "pool positions %d, %d = eos_position", gp[0], gp[B - 1]);
    free(gp);
    tu_check(t, a.live_bytes == 0, "arena released (%zu bytes live)", a.live_bytes);

    tu_case(t, "golden sd-tiny text encoder: single hidden-state requests");
    // Penultimate with final LN: stops after layer L-1 (the last layer is not run).
    vkd_clip_forward(&m, &p, t->s, &a,
                     &(vkd_clip_outputs){.hidden = g_h.addr, .hidden_layer = (int32_t)L - 1, .hidden_final_ln = true},
                     gids.addr, B, T);
    tu_run(t);
    expect_buf_rule(t, "penultimate_hidden_state_final_ln (hidden_layer L-1, final LN)", g_h, pen_ln);
    vkd_clip_forward(&m, &p, t->s, &a, &(vkd_clip_outputs){.hidden = g_h.addr, .hidden_layer = 0}, gids.addr, B, T);
    tu_run(t);
    expect_buf_rule(t, "hidden_layer 0 (embeddings)", g_h, hs);
    vkd_clip_forward(&m, &p, t->s, &a, &(vkd_clip_outputs){.hidden = g_h.addr, .hidden_layer = -1,
                                                           .hidden_final_ln = true},
                     gids.addr, B, T);
    tu_run(t);
    expect_buf_rule(t, "hidden_layer -1 with final LN = last_hidden_state", g_h, last);
    // Only the pooled output (the last hidden state lives in scratch).
    vkd_clip_forward(&m, &p, t->s, &a, &(vkd_clip_outputs){.pooled = g_pool.addr}, gids.addr, B, T);
    tu_run(t);
    expect_buf_rule(t, "pooler_output alone", g_pool, pooled);

    tu_case(t, "golden sd-tiny text encoder: encode with clip skip");
    tu_buf cond = tu_alloc(t, ND);
    vkd_status st = vkd_clip_encode(&m, &p, &a, cond.addr, g_pool.addr, ids, B, T, 1, &err);
    if (tu_check(t, st == VKD_OK, "encode clip_skip 1: %s", st ? err.msg : "ok")) {
        expect_buf_rule(t, "clip skip 1 = last_hidden_state", cond, last);
        expect_buf_rule(t, "encode's pooled", g_pool, pooled);
    }
    st = vkd_clip_encode(&m, &p, &a, cond.addr, 0, ids, B, T, 2, &err);
    if (tu_check(t, st == VKD_OK, "encode clip_skip 2: %s", st ? err.msg : "ok"))
        expect_buf_rule(t, "clip skip 2 = penultimate_hidden_state_final_ln", cond, pen_ln);
    tu_check(t, vkd_clip_encode(&m, &p, &a, cond.addr, 0, ids, B, T, 3, &err) == VKD_ERR_INVALID &&
                    has(err.msg, "clip skip 3"),
             "clip skip 3 of 2 layers: %s", err.msg);
    int32_t saved = ids[N - 5];
    ids[N - 5] = 1000;
    tu_check(t, vkd_clip_encode(&m, &p, &a, cond.addr, 0, ids, B, T, 1, &err) == VKD_ERR_INVALID &&
                    has(err.msg, "1000"),
             "id outside the vocabulary: %s", err.msg);
    ids[N - 5] = saved;
    // A bad request fails the stream and submits nothing.
    vkd_clip_forward(&m, &p, t->s, &a, &(vkd_clip_outputs){.hidden = g_h.addr, .hidden_layer = 3}, gids.addr, B, T);
    st = vkd_stream_submit(t->s, &err);
    tu_check(t, st == VKD_ERR_INVALID && has(err.msg, "hidden_layer 3"), "hidden_layer 3 of 2: %s", err.msg);
    vkd_clip_forward(&m, &p, t->s, &a, &o, gids.addr, B, 78);
    st = vkd_stream_submit(t->s, &err);
    tu_check(t, st == VKD_ERR_INVALID && has(err.msg, "T=78"), "T = 78: %s", err.msg);
    tu_check(t, a.live_bytes == 0, "arena released (%zu bytes live, peak %zu)", a.live_bytes, a.peak_bytes);

    tu_case(t, "golden sd-tiny text encoder: a penultimate request does not run the last layer");
    // NaN weights in the last layer: clip skip 2 must not see them, clip skip 1 must.
    uint32_t fc2 = m.layers[L - 1].fc2_w;
    uint64_t cnt = p.items[fc2].count;
    float* nan_w = malloc(cnt * sizeof(float));
    for (uint64_t k = 0; k < cnt; k++) nan_w[k] = NAN;
    vkd_params_upload(&p, fc2, nan_w, cnt, &err);
    free(nan_w);
    st = vkd_clip_encode(&m, &p, &a, cond.addr, 0, ids, B, T, 2, &err);
    if (tu_check(t, st == VKD_OK, "encode clip_skip 2: %s", st ? err.msg : "ok"))
        expect_buf_rule(t, "clip skip 2 with a NaN last layer", cond, pen_ln);
    st = vkd_clip_encode(&m, &p, &a, cond.addr, 0, ids, B, T, 1, &err);
    double* nan_out = tu_download_d(t, cond);
    tu_check(t, st == VKD_OK && isnan(nan_out[0]), "clip skip 1 with a NaN last layer is NaN (%g)", nan_out[0]);
    free(nan_out);

    tu_free(t, &cond);
    tu_free(t, &g_last);
    tu_free(t, &g_pool);
    tu_free(t, &g_pos);
    tu_free(t, &g_hs);
    tu_free(t, &g_h);
    tu_free(t, &gids);
    vkd_arena_free(&a);
    free(ids);
    free(last);
    free(hs);
    free(pen);
    free(pen_ln);
    free(pooled);
    free(eos);
    free(last64);
    vkd_safetensors_close(wf);
    vkd_safetensors_close(cf);
    vkd_params_free(&p);
}

// ---------------------------------------------------------------------------
// GPU vs the float64 reference on configurations the fixture lacks.

static void ref_case(tu_ctx* t, vkd_clip_desc desc, uint32_t B, uint32_t T, const char* label) {
    tu_case(t, "reference %s: B=%u T=%u", label, B, T);
    vkd_error err = {0};
    vkd_clip m;
    vkd_params p = {0};
    if (!tu_check(t, vkd_clip_declare(&m, &p, "text_encoder.", &desc, &err) == VKD_OK, "declare: %s", err.msg))
        return;
    if (!tu_check(t, vkd_params_alloc(t->gpu, &p, false, &err) == VKD_OK, "alloc: %s", err.msg)) {
        vkd_params_free(&p);
        return;
    }
    const vkd_clip_desc* d = &m.d;
    // Random weights in the fixtures' style: norms around 1, biases around 0.
    double** w = calloc(p.count, sizeof(double*));
    for (uint32_t i = 0; i < p.count; i++) {
        const vkd_param* q = &p.items[i];
        w[i] = tu_alloc_d(q->count);
        bool norm = strstr(q->name, "norm") != NULL;
        if (q->ndim == 2) {
            double s = 1.0 / sqrt((double)q->shape[1]);
            tu_fill_normal(t, w[i], q->count, s < 0.05 ? 0.05 : s > 0.2 ? 0.2 : s);
        } else {
            tu_fill_normal(t, w[i], q->count, norm && strstr(q->name, ".weight") ? 0.2 : 0.05);
            if (norm && strstr(q->name, ".weight"))
                for (uint64_t k = 0; k < q->count; k++) w[i][k] += 1.0;
        }
        tu_round_f32(w[i], q->count);
        float* f = malloc(q->count * sizeof(float));
        for (uint64_t k = 0; k < q->count; k++) f[k] = (float)w[i][k];
        vkd_params_upload(&p, i, f, q->count, &err);
        free(f);
    }
    const size_t N = (size_t)B * T, ND = N * d->hidden_size, L = d->num_layers, D = d->hidden_size;
    // Rows: BOS, content, EOS, then padding (an id larger than EOS in one row, so argmax
    // and first-EOS pooling pick different positions there).
    int32_t* ids = malloc(N * sizeof(int32_t));
    for (uint32_t b = 0; b < B; b++) {
        uint32_t len = 2 + (uint32_t)tu_uniform(t, 0, T - 1);
        if (len > T) len = T;
        for (uint32_t k = 0; k < T; k++) {
            int32_t id = 1 + (int32_t)tu_uniform(t, 0, d->vocab_size - 4);
            if (k == 0) id = 0;
            else if (k == len - 1) id = (int32_t)d->vocab_size - 2;  // EOS
            else if (k >= len) id = b == 1 ? (int32_t)d->vocab_size - 1 : (int32_t)d->vocab_size - 2;
            ids[(size_t)b * T + k] = id;
        }
    }
    double* r_last = tu_alloc_d(ND);
    double* r_pool = tu_alloc_d((size_t)B * D);
    double* r_hs = tu_alloc_d((L + 1) * ND);
    vkd_ref_clip_forward(&m, (const double* const*)w, ids, B, T, r_last, r_pool, r_hs);
    int32_t* pos = malloc(B * sizeof(int32_t));
    vkd_clip_pool_positions(&m, ids, B, T, pos);

    vkd_arena a = {.gpu = t->gpu};
    tu_buf gids = upload_ids(t, ids, N);
    tu_buf g_last = tu_alloc(t, ND), g_pool = tu_alloc(t, (size_t)B * D), g_pos = tu_alloc(t, B),
           g_hs = tu_alloc(t, (L + 1) * ND), g_h = tu_alloc(t, ND);
    vkd_clip_forward(&m, &p, t->s, &a,
                     &(vkd_clip_outputs){.last_hidden_state = g_last.addr, .pooled = g_pool.addr,
                                         .pool_position = g_pos.addr, .hidden_states = g_hs.addr},
                     gids.addr, B, T);
    tu_run(t);
    expect_buf_rule(t, "last_hidden_state", g_last, r_last);
    expect_buf_rule(t, "hidden_states", g_hs, r_hs);
    expect_buf_rule(t, "pooled", g_pool, r_pool);
    int32_t* gp = download_i32(t, g_pos);
    bool same = true;
    for (uint32_t b = 0; b < B; b++) same &= gp[b] == pos[b];
    tu_check(t, same, "pool positions (GPU %d.. vs host %d..)", gp[0], pos[0]);
    free(gp);
    // The conditioning for each clip skip: final LN of the selected layer.
    for (uint32_t skip = 1; skip <= 2 && skip <= d->cond_layer; skip++) {
        vkd_clip_condition(&m, &p, t->s, &a, g_h.addr, gids.addr, B, T, skip);
        tu_run(t);
        int32_t layer = vkd_clip_skip_layer(&m, skip);
        double* r = tu_alloc_d(ND);
        double mean[1024], rstd[1024];
        for (size_t n0 = 0; n0 < N; n0 += 1024) {
            size_t rows = N - n0 < 1024 ? N - n0 : 1024;
            vkd_ref_layernorm_forward(r + n0 * D, mean, rstd, r_hs + (size_t)layer * ND + n0 * D, w[m.final_ln_w],
                                      w[m.final_ln_b], rows, D, d->layer_norm_eps);
        }
        char what[96];
        snprintf(what, sizeof what, "condition clip skip %u (layer %d of %u, final LN)", skip, layer, d->num_layers);
        expect_buf_rule(t, what, g_h, r);
        free(r);
    }
    tu_free(t, &gids);
    tu_free(t, &g_last);
    tu_free(t, &g_pool);
    tu_free(t, &g_pos);
    tu_free(t, &g_hs);
    tu_free(t, &g_h);
    vkd_arena_free(&a);
    for (uint32_t i = 0; i < p.count; i++) free(w[i]);
    free(w);
    free(ids);
    free(pos);
    free(r_last);
    free(r_pool);
    free(r_hs);
    vkd_params_free(&p);
}

// ---------------------------------------------------------------------------
// Bad weight files: the error names the file and the tensor.

static void bad_weights(tu_ctx* t) {
    tu_case(t, "bad weights: missing, mis-shaped and wrong-dtype tensors");
    char cfg_path[1024], w_path[1024], tmp[256];
    tu_fixture_path(cfg_path, sizeof cfg_path, "text_encoder/config.json");
    tu_fixture_path(w_path, sizeof w_path, "text_encoder/model.safetensors");
    snprintf(tmp, sizeof tmp, "/tmp/vkd_test_clip_%d.safetensors", (int)getpid());
    vkd_error err = {0};
    vkd_clip_desc d;
    vkd_clip m;
    vkd_params p = {0};
    vkd_safetensors* wf = NULL;
    if (!tu_check(t, vkd_clip_config_load(cfg_path, &d, &err) == VKD_OK && vkd_clip_declare(&m, &p, NULL, &d, &err) == VKD_OK &&
                         vkd_params_alloc(t->gpu, &p, false, &err) == VKD_OK &&
                         vkd_safetensors_open(w_path, &wf, &err) == VKD_OK,
                  "setup: %s", err.msg)) {
        vkd_params_free(&p);
        return;
    }
    size_t n = vkd_safetensors_count(wf);
    vkd_tensor_write* tw = calloc(n, sizeof *tw);
    for (size_t i = 0; i < n; i++) {
        const vkd_tensor_info* ti = vkd_safetensors_at(wf, i);
        tw[i] = (vkd_tensor_write){.name = ti->name, .dtype = ti->dtype, .ndim = ti->ndim, .data = ti->data};
        memcpy(tw[i].shape, ti->shape, sizeof ti->shape);
    }
    const char* victim = "text_model.encoder.layers.1.mlp.fc1.weight";
    size_t vi = 0;
    for (size_t i = 0; i < n; i++)
        if (!strcmp(tw[i].name, victim)) vi = i;
    tu_check(t, !strcmp(tw[vi].name, victim), "the fixture has %s", victim);

    // 1. Missing: drop it.
    vkd_tensor_write keep = tw[vi];
    tw[vi] = tw[n - 1];
    vkd_safetensors* bf = NULL;
    vkd_status st = vkd_safetensors_write(tmp, tw, n - 1, NULL, &err);
    if (!st) st = vkd_safetensors_open(tmp, &bf, &err);
    if (tu_check(t, st == VKD_OK, "write %s: %s", tmp, st ? err.msg : "ok")) {
        st = vkd_params_load(&p, bf, NULL, &err);
        tu_check(t, st == VKD_ERR_INVALID && has(err.msg, tmp) && has(err.msg, victim) && has(err.msg, "missing") &&
                        has(err.msg, "[37,32]"),
                 "missing tensor: %s", err.msg);
        vkd_safetensors_close(bf);
        bf = NULL;
    }
    tw[n - 1] = tw[vi];
    tw[vi] = keep;

    // 2. Mis-shaped: the same bytes as [32, 37].
    tw[vi].shape[0] = 32;
    tw[vi].shape[1] = 37;
    st = vkd_safetensors_write(tmp, tw, n, NULL, &err);
    if (!st) st = vkd_safetensors_open(tmp, &bf, &err);
    if (tu_check(t, st == VKD_OK, "write %s: %s", tmp, st ? err.msg : "ok")) {
        st = vkd_params_load(&p, bf, NULL, &err);
        tu_check(t, st == VKD_ERR_INVALID && has(err.msg, tmp) && has(err.msg, victim) && has(err.msg, "[32,37]") &&
                        has(err.msg, "[37,32]"),
                 "mis-shaped tensor: %s", err.msg);
        vkd_safetensors_close(bf);
        bf = NULL;
    }
    tw[vi].shape[0] = 37;
    tw[vi].shape[1] = 32;

    // 3. Wrong dtype: the same count of I32 words.
    tw[vi].dtype = VKD_DTYPE_I32;
    st = vkd_safetensors_write(tmp, tw, n, NULL, &err);
    if (!st) st = vkd_safetensors_open(tmp, &bf, &err);
    if (tu_check(t, st == VKD_OK, "write %s: %s", tmp, st ? err.msg : "ok")) {
        st = vkd_params_load(&p, bf, NULL, &err);
        tu_check(t, st == VKD_ERR_UNSUPPORTED && has(err.msg, tmp) && has(err.msg, victim) && has(err.msg, "I32"),
                 "wrong dtype: %s", err.msg);
        vkd_safetensors_close(bf);
    }
    remove(tmp);
    free(tw);
    vkd_safetensors_close(wf);
    vkd_params_free(&p);
}

// ---------------------------------------------------------------------------
// SD-1.5 text encoder timing (random weights), on request.

static double now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static void bench_sd15(tu_ctx* t) {
    tu_case(t, "bench: SD-1.5 text encoder (768 wide, 12 layers, 12 heads, 3072 MLP), B=2, T=77");
    vkd_error err = {0};
    vkd_clip m;
    vkd_params p = {0};
    bool ok = tu_check(t, vkd_clip_declare(&m, &p, NULL, &(vkd_clip_desc){0}, &err) == VKD_OK &&
                              vkd_params_alloc(t->gpu, &p, false, &err) == VKD_OK &&
                              vkd_params_init_random(&p, 5, &err) == VKD_OK,
                      "setup: %s", err.msg);
    if (!ok) {
        vkd_params_free(&p);
        return;
    }
    const uint32_t B = 2, T = 77, D = 768;
    int32_t ids[2 * 77];
    for (uint32_t b = 0; b < B; b++)
        for (uint32_t k = 0; k < T; k++) {
            uint32_t len = b ? 77 : 12;
            ids[b * T + k] = k == 0 ? 49406 : k >= len - 1 ? 49407 : (int32_t)(320 + 37 * k + 11 * b);
        }
    vkd_arena a = {.gpu = t->gpu};
    tu_buf cond = tu_alloc(t, (size_t)B * T * D);
    vkd_status st = vkd_clip_encode(&m, &p, &a, cond.addr, 0, ids, B, T, 1, &err);  // warm-up: pipelines
    tu_check(t, st == VKD_OK, "warm-up: %s", st ? err.msg : "ok");
    const int reps = 3;
    double best = 1e30, total = 0;
    for (int r = 0; r < reps && !st; r++) {
        double t0 = now_s();
        st = vkd_clip_encode(&m, &p, &a, cond.addr, 0, ids, B, T, 1, &err);
        double dt = now_s() - t0;
        total += dt;
        if (dt < best) best = dt;
    }
    double* got = tu_download_d(t, cond);
    size_t bad = 0;
    for (size_t i = 0; i < cond.n; i++) bad += !isfinite(got[i]);
    free(got);
    printf("bench clip sd15: B=%u T=%u encode %.1f ms best, %.1f ms mean of %d (device %s, arena peak %.1f MiB)\n", B,
           T, 1e3 * best, 1e3 * total / reps, reps, vkd_gpu_get_info(t->gpu)->name, (double)a.peak_bytes / (1 << 20));
    tu_check(t, st == VKD_OK && bad == 0, "timed encodes ran, output finite (%zu non-finite)", bad);
    tu_free(t, &cond);
    vkd_arena_free(&a);
    vkd_params_free(&p);
}

void test_clip(tu_ctx* t) {
    config_cases(t);
    golden_cases(t);
    // gelu, first-EOS pooling, D = 64 (the fused q/k/v GEMM), short prompts.
    ref_case(t, (vkd_clip_desc){.kind = VKD_CLIP_OPENCLIP_H, .vocab_size = 50, .hidden_size = 64,
                                .intermediate_size = 100, .num_layers = 3, .num_heads = 2, .max_positions = 20,
                                .pool = VKD_CLIP_POOL_EOS_ID, .eos_token_id = 48},
             3, 13, "openclip-style gelu, eos-id pooling, fused qkv");
    // quick_gelu, argmax pooling, odd sizes (separate q/k/v GEMMs), head dim 7.
    ref_case(t, (vkd_clip_desc){.vocab_size = 33, .hidden_size = 21, .intermediate_size = 45, .num_layers = 2,
                                .num_heads = 3, .max_positions = 9, .layer_norm_eps = 1e-6f},
             2, 9, "quick_gelu, argmax pooling, odd sizes");
    ref_case(t, (vkd_clip_desc){.vocab_size = 40, .hidden_size = 16, .num_layers = 1, .num_heads = 1,
                                .act = VKD_CLIP_ACT_GELU_TANH},
             1, 1, "one token, one layer, gelu_tanh");
    bad_weights(t);
    const char* b = getenv("VKD_CLIP_BENCH");
    if (b && *b && strcmp(b, "0")) bench_sd15(t);
}
