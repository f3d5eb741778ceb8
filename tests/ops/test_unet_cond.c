// UNet2DConditionModel (src/prior/unet_cond.c, spatial_transformer.c) against the sd-tiny
// golden fixtures (diffusers v0.21.4): forward output and every act.* of case_forward, the
// 77-token case, and the backward case (grad_sample, grad_encoder_hidden_states and every
// grad_W.*), with PRIOR.md's pass rule. LoRA and the class embedding have no fixture: with
// the LoRA up-projections at zero the output equals the base model exactly, and their
// gradients match central finite differences of the GPU forward.
#include "harness.h"
#include "vkdream/nn/arena.h"
#include "vkdream/prior/unet_cond.h"
#include "vkdream/safetensors.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

typedef struct fixture {
    vkd_unet m;
    vkd_params p, lora;
    bool ok;
} fixture;

static bool ok_st(tu_ctx* t, vkd_status st, const vkd_error* e, const char* what) {
    return tu_check(t, st == VKD_OK, "%s%s%s", what, st ? ": " : "", st ? e->msg : "");
}

static vkd_safetensors* open_fx(tu_ctx* t, const char* rel) {
    char path[1024];
    tu_fixture_path(path, sizeof path, rel);
    vkd_safetensors* st = NULL;
    vkd_error e = {0};
    return ok_st(t, vkd_safetensors_open(path, &st, &e), &e, rel) ? st : NULL;
}

static float* read_f(tu_ctx* t, vkd_safetensors* st, const char* name, size_t* n_out) {
    const vkd_tensor_info* ti = vkd_safetensors_find(st, name);
    if (!tu_check(t, ti != NULL, "fixture tensor %s", name)) return NULL;
    float* f = malloc(ti->numel * sizeof *f);
    vkd_error e = {0};
    vkd_safetensors_read_f32(st, name, f, ti->numel, &e);
    if (n_out) *n_out = ti->numel;
    return f;
}

static const vkd_buffer* owner_of(const vkd_arena* a, const vkd_buffer* extra, vkd_addr addr) {
    if (extra && addr >= extra->addr && addr < extra->addr + extra->size) return extra;
    for (uint32_t c = 0; c < a->nchunks; c++)
        if (addr >= a->chunks[c].addr && addr < a->chunks[c].addr + a->chunks[c].size) return &a->chunks[c];
    return NULL;
}

// Compares device floats at addr with fixture tensor `name` (gradient: the gradient rule).
static double expect(tu_ctx* t, vkd_safetensors* st, const char* name, const vkd_arena* a, const vkd_buffer* extra,
                     vkd_addr addr, bool gradient) {
    size_t n = 0;
    float* ref = read_f(t, st, name, &n);
    if (!ref) return INFINITY;
    float* got = malloc(n * sizeof *got);
    const vkd_buffer* b = owner_of(a, extra, addr);
    vkd_error e = {0};
    bool ok = b && vkd_buffer_download(t->gpu, b, (size_t)(addr - b->addr), got, n * 4, &e) == VKD_OK;
    double md = INFINITY, mr = 0;
    if (tu_check(t, ok, "download %s", name)) {
        md = 0;
        for (size_t i = 0; i < n; i++) mr = fmax(mr, fabs(ref[i])), md = fmax(md, fabs((double)got[i] - ref[i]));
        double bound = 1e-4 * (gradient ? mr : fmax(1.0, mr));
        tu_check(t, md <= bound, "%s: max|d| %.3g <= %.3g", name, md, bound);
    }
    free(ref), free(got);
    return md;
}

static void load(tu_ctx* t, fixture* f, bool grad, uint32_t lora_rank, uint32_t class_dim) {
    memset(f, 0, sizeof *f);
    char path[1024];
    tu_fixture_path(path, sizeof path, "unet/config.json");
    vkd_unet_desc d;
    vkd_error e = {0};
    if (!ok_st(t, vkd_unet_config_load(path, &d, &e), &e, "unet config")) return;
    d.lora_rank = lora_rank;
    d.class_embed_dim = class_dim;
    if (!ok_st(t, vkd_unet_declare(&f->m, &f->p, &f->lora, "", &d, &e), &e, "declare")) return;
    vkd_safetensors* w = open_fx(t, "unet/diffusion_pytorch_model.safetensors");
    if (!w) return;
    f->ok = ok_st(t, vkd_params_alloc(t->gpu, &f->p, grad, &e), &e, "alloc") &&
            ok_st(t, vkd_params_load(&f->p, w, NULL, &e), &e, "load weights");
    vkd_safetensors_close(w);
    if (f->ok && f->lora.count)
        f->ok = ok_st(t, vkd_params_alloc(t->gpu, &f->lora, true, &e), &e, "alloc lora") &&
                ok_st(t, vkd_params_init_random(&f->lora, 7, &e), &e, "init lora");
    if (f->ok && grad) vkd_params_zero_grad(&f->p, t->s);
    if (f->ok && f->lora.count) vkd_params_zero_grad(&f->lora, t->s);
}

static void free_fx(fixture* f) {
    vkd_params_free(&f->p);
    vkd_params_free(&f->lora);
}

// Uploads the case inputs: sample, timesteps (I64 -> float), context.
typedef struct inputs {
    tu_buf sample, ts, ctx;
    uint32_t B, C, H, W, T, D;
} inputs;

static bool upload_inputs(tu_ctx* t, vkd_safetensors* c, inputs* in) {
    const vkd_tensor_info* si = vkd_safetensors_find(c, "sample");
    const vkd_tensor_info* ci = vkd_safetensors_find(c, "encoder_hidden_states");
    if (!tu_check(t, si && ci, "case inputs")) return false;
    in->B = (uint32_t)si->shape[0], in->C = (uint32_t)si->shape[1], in->H = (uint32_t)si->shape[2];
    in->W = (uint32_t)si->shape[3], in->T = (uint32_t)ci->shape[1], in->D = (uint32_t)ci->shape[2];
    float* s = read_f(t, c, "sample", NULL);
    float* x = read_f(t, c, "encoder_hidden_states", NULL);
    float* ts = read_f(t, c, "timestep", NULL);
    size_t ns = (size_t)in->B * in->C * in->H * in->W, nc = (size_t)in->B * in->T * in->D;
    double* sd = tu_alloc_d(ns);
    double* cd = tu_alloc_d(nc);
    double td[8];
    for (size_t i = 0; i < ns; i++) sd[i] = s[i];
    for (size_t i = 0; i < nc; i++) cd[i] = x[i];
    for (uint32_t b = 0; b < in->B; b++) td[b] = ts[b];
    in->sample = tu_upload_d(t, sd, ns);
    in->ctx = tu_upload_d(t, cd, nc);
    in->ts = tu_upload_d(t, td, in->B);
    free(s), free(x), free(ts), free(sd), free(cd);
    return true;
}

static void forward_case(tu_ctx* t, const char* file, bool acts_too) {
    tu_case(t, "unet forward %s", file);
    fixture f;
    load(t, &f, false, 0, 0);
    vkd_safetensors* c = open_fx(t, file);
    inputs in;
    if (!f.ok || !c || !upload_inputs(t, c, &in)) goto done;
    vkd_arena a = {.gpu = t->gpu};
    tu_buf out = tu_zeros(t, (size_t)in.B * 4 * in.H * in.W);
    vkd_unet_acts acts = {0};
    vkd_unet_forward(&f.m, &f.p, NULL, t->s, &a, out.addr, in.sample.addr, in.ts.addr, in.ctx.addr, 0, in.B, in.H,
                     in.W, in.T, NULL, acts_too ? &acts : NULL);
    if (tu_run(t)) {
        expect(t, c, "out", &a, &out.b, out.addr, false);
        if (acts_too) {
            expect(t, c, "act.time_proj", &a, NULL, acts.time_proj, false);
            expect(t, c, "act.time_embedding", &a, NULL, acts.temb, false);
            expect(t, c, "act.conv_in", &a, NULL, acts.conv_in, false);
            expect(t, c, "act.down_blocks.0.resnets.0", &a, NULL, acts.down_res0, false);
            expect(t, c, "act.down_blocks.0.attentions.0", &a, NULL, acts.down_attn0, false);
            char name[64];
            for (uint32_t i = 0; i < f.m.d.num_blocks; i++) {
                snprintf(name, sizeof name, "act.down_blocks.%u", i);
                expect(t, c, name, &a, NULL, acts.down[i], false);
                snprintf(name, sizeof name, "act.up_blocks.%u", i);
                expect(t, c, name, &a, NULL, acts.up[i], false);
            }
            expect(t, c, "act.mid_block", &a, NULL, acts.mid, false);
            expect(t, c, "act.conv_act", &a, NULL, acts.conv_act, false);
        }
    }
    vkd_arena_free(&a);
    tu_free(t, &out), tu_free(t, &in.sample), tu_free(t, &in.ctx), tu_free(t, &in.ts);
done:
    if (c) vkd_safetensors_close(c);
    free_fx(&f);
}

static void backward_case(tu_ctx* t) {
    tu_case(t, "unet backward (case_backward)");
    fixture f;
    load(t, &f, true, 0, 0);
    vkd_safetensors* c = open_fx(t, "unet/case_backward.safetensors");
    inputs in;
    if (!f.ok || !c || !upload_inputs(t, c, &in)) goto done;
    vkd_arena a = {.gpu = t->gpu};
    size_t ns = (size_t)in.B * 4 * in.H * in.W, nc = (size_t)in.B * in.T * in.D;
    float* g = read_f(t, c, "cotangent", NULL);
    double* gd = tu_alloc_d(ns);
    for (size_t i = 0; i < ns; i++) gd[i] = g[i];
    tu_buf out = tu_zeros(t, ns), cot = tu_upload_d(t, gd, ns), ds = tu_zeros(t, ns), dc = tu_zeros(t, nc);
    vkd_unet_saved* sv = vkd_unet_saved_new();
    vkd_unet_forward(&f.m, &f.p, NULL, t->s, &a, out.addr, in.sample.addr, in.ts.addr, in.ctx.addr, 0, in.B, in.H, in.W,
                     in.T, sv, NULL);
    vkd_unet_backward(&f.m, &f.p, NULL, t->s, &a, ds.addr, dc.addr, 0, cot.addr, sv);
    if (tu_run(t)) {
        expect(t, c, "out", &a, &out.b, out.addr, false);
        expect(t, c, "grad_sample", &a, &ds.b, ds.addr, true);
        expect(t, c, "grad_encoder_hidden_states", &a, &dc.b, dc.addr, true);
        int checked = 0;
        for (size_t i = 0; i < vkd_safetensors_count(c); i++) {
            const vkd_tensor_info* ti = vkd_safetensors_at(c, i);
            if (strncmp(ti->name, "grad_W.", 7) || strstr(ti->name, "f64ref")) continue;
            uint32_t idx = vkd_params_find(&f.p, ti->name + 7);
            if (!tu_check(t, idx != UINT32_MAX, "parameter %s declared", ti->name + 7)) continue;
            expect(t, c, ti->name, &a, &f.p.grad, vkd_params_grad(&f.p, idx), true);
            checked++;
        }
        tu_check(t, checked >= 18, "%d parameter gradients checked (18 in the fixture)", checked);
    }
    vkd_unet_saved_free(sv);
    vkd_arena_free(&a);
    tu_free(t, &out), tu_free(t, &cot), tu_free(t, &ds), tu_free(t, &dc);
    tu_free(t, &in.sample), tu_free(t, &in.ctx), tu_free(t, &in.ts);
    free(g), free(gd);
done:
    if (c) vkd_safetensors_close(c);
    free_fx(&f);
}

// L = <unet(sample; lora, class), g> on the host.
static double loss(tu_ctx* t, fixture* f, inputs* in, tu_buf* cls, tu_buf* out, const float* g, size_t ns) {
    vkd_arena a = {.gpu = t->gpu};
    vkd_unet_forward(&f->m, &f->p, &f->lora, t->s, &a, out->addr, in->sample.addr, in->ts.addr, in->ctx.addr, cls->addr,
                     in->B, in->H, in->W, in->T, NULL, NULL);
    double l = NAN;
    float* o = malloc(ns * 4);
    if (tu_run(t) && !vkd_buffer_download(t->gpu, &out->b, 0, o, ns * 4, NULL)) {
        l = 0;
        for (size_t i = 0; i < ns; i++) l += (double)o[i] * g[i];
    }
    free(o);
    vkd_arena_free(&a);
    return l;
}

static void lora_case(tu_ctx* t) {
    tu_case(t, "LoRA + class embedding: zero up = base; gradients vs finite differences");
    fixture f, base;
    load(t, &f, false, 2, 16);
    load(t, &base, false, 0, 0);
    vkd_safetensors* c = open_fx(t, "unet/case_forward.safetensors");
    inputs in;
    if (!f.ok || !base.ok || !c || !upload_inputs(t, c, &in)) goto done;
    size_t ns = (size_t)in.B * 4 * in.H * in.W;
    double cl[2 * 16];
    for (int i = 0; i < 32; i++) cl[i] = tu_uniform(t, -1, 1);
    tu_buf cls = tu_upload_d(t, cl, 32), out = tu_zeros(t, ns), ob = tu_zeros(t, ns), dcls = tu_zeros(t, 32);
    vkd_error e = {0};
    // With every up-projection and the class embedding's last layer at zero, phi is the base model.
    float* zero = calloc(1 << 16, 4);
    for (uint32_t i = 0; i < f.lora.count; i++)
        if (strstr(f.lora.items[i].name, ".up.weight") || strstr(f.lora.items[i].name, "class_embedding.linear_2"))
            vkd_params_upload(&f.lora, i, zero, f.lora.items[i].count, &e);
    vkd_arena a = {.gpu = t->gpu};
    vkd_unet_forward(&f.m, &f.p, &f.lora, t->s, &a, out.addr, in.sample.addr, in.ts.addr, in.ctx.addr, cls.addr, in.B,
                     in.H, in.W, in.T, NULL, NULL);
    vkd_unet_forward(&base.m, &base.p, NULL, t->s, &a, ob.addr, in.sample.addr, in.ts.addr, in.ctx.addr, 0, in.B, in.H,
                     in.W, in.T, NULL, NULL);
    if (tu_run(t)) {
        double* x = tu_download_d(t, out);
        double* y = tu_download_d(t, ob);
        double md = 0;
        for (size_t i = 0; i < ns; i++) md = fmax(md, fabs(x[i] - y[i]));
        tu_check(t, md == 0, "zero LoRA: max|phi - base| = %g", md);
        free(x), free(y);
    }
    vkd_arena_free(&a);
    // Random nonzero LoRA factors, then gradients of L = <out, g>.
    vkd_params_init_random(&f.lora, 11, &e);
    float* g = malloc(ns * 4);
    for (size_t i = 0; i < ns; i++) g[i] = (float)tu_uniform(t, -1, 1);
    double* gd = tu_alloc_d(ns);
    for (size_t i = 0; i < ns; i++) gd[i] = g[i];
    tu_buf cot = tu_upload_d(t, gd, ns);
    vkd_params_zero_grad(&f.lora, t->s);
    vkd_arena b = {.gpu = t->gpu};
    vkd_unet_saved* sv = vkd_unet_saved_new();
    vkd_unet_forward(&f.m, &f.p, &f.lora, t->s, &b, out.addr, in.sample.addr, in.ts.addr, in.ctx.addr, cls.addr, in.B,
                     in.H, in.W, in.T, sv, NULL);
    vkd_unet_backward(&f.m, &f.p, &f.lora, t->s, &b, 0, 0, dcls.addr, cot.addr, sv);
    bool ran = tu_run(t);
    vkd_unet_saved_free(sv);
    vkd_arena_free(&b);
    const char* names[] = {"down_blocks.0.attentions.0.transformer_blocks.0.attn1.processor.to_q_lora.down.weight",
                           "down_blocks.0.attentions.0.transformer_blocks.0.attn2.processor.to_v_lora.up.weight",
                           "up_blocks.1.attentions.1.transformer_blocks.0.attn1.processor.to_out_lora.up.weight",
                           "mid_block.attentions.0.transformer_blocks.0.attn2.processor.to_k_lora.down.weight",
                           "class_embedding.linear_1.weight", "class_embedding.linear_2.bias"};
    for (int k = 0; k < 6 && ran; k++) {
        uint32_t idx = vkd_params_find(&f.lora, names[k]);
        if (!tu_check(t, idx != UINT32_MAX, "declared %s", names[k])) continue;
        uint64_t cnt = f.lora.items[idx].count;
        float* w = malloc(cnt * 4);
        float* gr = malloc(cnt * 4);
        vkd_params_download(&f.lora, idx, false, w, cnt, &e);
        vkd_params_download(&f.lora, idx, true, gr, cnt, &e);
        for (int rep = 0; rep < 2; rep++) {
            uint64_t j = (uint64_t)(tu_uniform(t, 0, 1) * (double)cnt) % cnt;
            float h = 1e-2f, w0 = w[j];
            w[j] = w0 + h;
            vkd_params_upload(&f.lora, idx, w, cnt, &e);
            double lp = loss(t, &f, &in, &cls, &out, g, ns);
            w[j] = w0 - h;
            vkd_params_upload(&f.lora, idx, w, cnt, &e);
            double lm = loss(t, &f, &in, &cls, &out, g, ns);
            w[j] = w0;
            vkd_params_upload(&f.lora, idx, w, cnt, &e);
            double fd = (lp - lm) / (2 * h);
            tu_check(t, fabs(fd - gr[j]) <= 2e-2 * fmax(fabs(fd), 1e-1),
                     "d/d %s[%llu]: backward %.5g, finite difference %.5g", names[k], (unsigned long long)j, gr[j], fd);
        }
        free(w), free(gr);
    }
    // dclass against finite differences too.
    if (ran) {
        double* dcl = tu_download_d(t, dcls);
        int j = 5;
        double h = 1e-2, c0 = cl[j];
        cl[j] = c0 + h;
        tu_buf cp = tu_upload_d(t, cl, 32);
        double lp = loss(t, &f, &in, &cp, &out, g, ns);
        cl[j] = c0 - h;
        tu_buf cm = tu_upload_d(t, cl, 32);
        double lm = loss(t, &f, &in, &cm, &out, g, ns);
        double fd = (lp - lm) / (2 * h);
        tu_check(t, fabs(fd - dcl[j]) <= 2e-2 * fmax(fabs(fd), 1e-1), "d/d class_labels[5]: %.5g vs %.5g", dcl[j], fd);
        tu_free(t, &cp), tu_free(t, &cm);
        free(dcl);
    }
    tu_free(t, &cot), tu_free(t, &cls), tu_free(t, &out), tu_free(t, &ob), tu_free(t, &dcls);
    tu_free(t, &in.sample), tu_free(t, &in.ctx), tu_free(t, &in.ts);
    free(zero), free(g), free(gd);
done:
    if (c) vkd_safetensors_close(c);
    free_fx(&f);
    free_fx(&base);
}

void test_unet_cond(tu_ctx* t) {
    forward_case(t, "unet/case_forward.safetensors", true);
    forward_case(t, "unet/case_forward_77tok.safetensors", false);
    backward_case(t);
    lora_case(t);
}
