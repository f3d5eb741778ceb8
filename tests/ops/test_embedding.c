// Embedding lookup and its deterministic scatter-add backward: repeated ids (CLIP pads
// with one id), more rows than the backward grid (row striding), out-of-range ids
// (clamped on the device, rejected by the host check).
#include "harness.h"
#include "vkdream/nn/embedding.h"

#include <stdlib.h>
#include <string.h>


static tu_buf upload_ids(tu_ctx* t, const int32_t* ids, size_t n) {
    tu_buf b = tu_alloc(t, n);  // int32 and float have the same size
    vkd_error e = {0};
    if (n && vkd_buffer_upload(t->gpu, &b.b, 0, ids, n * sizeof *ids, &e))
        tu_check(t, false, "upload ids: %s", e.msg);
    return b;
}

typedef struct emb_fd {
    const int32_t* ids;
    const double *table, *g;
    size_t n, vocab, c;
    double* out;
} emb_fd;

static double emb_loss(void* user) {
    emb_fd* u = user;
    vkd_ref_embedding_forward(u->out, u->ids, u->table, u->n, u->vocab, u->c);
    return tu_dot(u->out, u->g, u->n * u->c);
}

// ids: "random" over the vocabulary, "few" over 3 values (many repeats), "clip" a
// CLIP-style prompt (BOS, tokens, EOS, padding with the EOS id), "bad" with ids
// outside [0, vocab).
static void emb_case(tu_ctx* t, size_t n, size_t vocab, size_t c, const char* kind) {
    tu_case(t, "embedding n=%zu vocab=%zu c=%zu ids=%s", n, vocab, c, kind);
    int32_t* ids = malloc(n * sizeof *ids);
    for (size_t i = 0; i < n; i++) {
        if (!strcmp(kind, "few")) ids[i] = (int32_t)(tu_uniform(t, 0, 3) * (double)vocab / 3.0);
        else if (!strcmp(kind, "clip")) ids[i] = i % 77 == 0 ? (int32_t)vocab - 2 : i % 77 > 11 ? (int32_t)vocab - 1
                                                                                 : (int32_t)tu_uniform(t, 0, (double)vocab - 2);
        else ids[i] = (int32_t)tu_uniform(t, 0, (double)vocab);
        if (ids[i] >= (int32_t)vocab) ids[i] = (int32_t)vocab - 1;
    }
    bool bad = !strcmp(kind, "bad");
    if (bad) {
        ids[0] = -5;
        ids[n / 2] = (int32_t)vocab + 3;
        ids[n - 1] = INT32_MAX;
    }
    vkd_error e = {0};
    vkd_status st = vkd_embedding_check_ids(ids, (uint32_t)n, (uint32_t)vocab, &e);
    tu_check(t, bad ? st == VKD_ERR_INVALID : st == VKD_OK, "host id check %s%s", vkd_status_name(st),
             st ? e.msg : "");

    size_t nt = vocab * c, no = n * c;
    double* table = tu_alloc_d(nt);
    double* g = tu_alloc_d(no);
    double* pre = tu_alloc_d(nt);
    tu_fill_normal(t, table, nt, 1.0);
    tu_fill_normal(t, g, no, 1.0);
    tu_fill_normal(t, pre, nt, 1.0);
    tu_round_f32(table, nt);
    tu_round_f32(g, no);
    tu_round_f32(pre, nt);
    tu_buf gids = upload_ids(t, ids, n), gtab = tu_upload_d(t, table, nt), gg = tu_upload_d(t, g, no);
    tu_buf gpre = tu_upload_d(t, pre, nt), gd1 = tu_zeros(t, nt), gd2 = tu_zeros(t, nt), gout = tu_alloc(t, no);
    vkd_embedding_forward(t->s, gout.addr, gids.addr, gtab.addr, (uint32_t)n, (uint32_t)vocab, (uint32_t)c);
    vkd_embedding_backward(t->s, gpre.addr, gg.addr, gids.addr, (uint32_t)n, (uint32_t)vocab, (uint32_t)c);
    vkd_embedding_backward(t->s, gd1.addr, gg.addr, gids.addr, (uint32_t)n, (uint32_t)vocab, (uint32_t)c);
    vkd_embedding_backward(t->s, gd2.addr, gg.addr, gids.addr, (uint32_t)n, (uint32_t)vocab, (uint32_t)c);
    tu_run(t);

    double* out = tu_alloc_d(no);
    double* dt = tu_alloc_d(nt);
    vkd_ref_embedding_forward(out, ids, table, n, vocab, c);
    vkd_ref_embedding_backward(dt, g, ids, n, vocab, c);
    for (size_t i = 0; i < nt; i++) pre[i] += dt[i];
    tu_expect_buf(t, "out", gout, out, 0, 0);  // a copy: exact
    tu_expect_buf(t, "dtable", gd1, dt, 1e-6, 1e-6);
    tu_expect_buf(t, "dtable accumulated", gpre, pre, 1e-6, 1e-6);
    double* d1 = tu_download_d(t, gd1);
    double* d2 = tu_download_d(t, gd2);
    tu_check(t, memcmp(d1, d2, nt * sizeof *d1) == 0, "dtable bit-identical across runs");
    free(d1);
    free(d2);

    // L = sum(out * g) is linear in the table: central differences on up to 64 entries.
    size_t k = nt < 64 ? nt : 64;
    emb_fd u = {ids, table, g, n, vocab, c, tu_alloc_d(no)};
    double* num = tu_alloc_d(k);
    double* ana = tu_alloc_d(k);
    for (size_t q = 0; q < k; q++) {
        size_t i = q * (nt / k);
        tu_fd_grad(emb_loss, &u, &table[i], 1, 1e-3, &num[q]);
        ana[q] = dt[i];
    }
    tu_check_close(t, "ref dtable vs finite differences", ana, num, k, 1e-9, 1e-9);
    free(u.out);
    free(num);
    free(ana);

    free(ids);
    free(table);
    free(g);
    free(pre);
    free(out);
    free(dt);
    tu_free(t, &gids);
    tu_free(t, &gtab);
    tu_free(t, &gg);
    tu_free(t, &gpre);
    tu_free(t, &gd1);
    tu_free(t, &gd2);
    tu_free(t, &gout);
}

static void bad_args(tu_ctx* t) {
    tu_case(t, "bad arguments");
    vkd_error e = {0};
    vkd_embedding_forward(t->s, 0, 0, 0, 4, 0, 8);
    tu_check(t, vkd_stream_submit(t->s, &e) == VKD_ERR_INVALID, "empty vocabulary is an error: %s", e.msg);
    vkd_embedding_backward(t->s, 16, 0, 0, 4, 1u << 20, 1u << 12);
    tu_check(t, vkd_stream_submit(t->s, &e) == VKD_ERR_INVALID, "table beyond 32-bit indices is an error: %s", e.msg);
}

void test_embedding(tu_ctx* t) {
    emb_case(t, 1, 1, 1, "random");
    emb_case(t, 7, 10, 3, "random");
    emb_case(t, 33, 7, 65, "few");
    emb_case(t, 154, 1000, 32, "clip");   // 2 prompts of 77 tokens, the tiny CLIP vocabulary
    emb_case(t, 77, 49, 130, "bad");
    if (!t->quick) emb_case(t, 2500, 50, 5, "few");  // more rows than the 1024-group grid
    bad_args(t);
}
