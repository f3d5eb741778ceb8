// DDPM schedule (src/prior/scheduler.c) against the sd-tiny fixtures (diffusers v0.21.4,
// torch 1.13 float32): betas and alphas_cumprod bit for bit, set_timesteps(50), add_noise
// and the velocity on the GPU with a timestep per sample; the eps/v/x0 conversions and
// their backward vs float64 host formulas; DDIM steps vs diffusers' step written out in
// float64; other spacings and beta schedules; config errors.
#include "harness.h"
#include "vkdream/prior/scheduler.h"
#include "vkdream/safetensors.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

static bool init_fixture_scheduler(tu_ctx* t, vkd_scheduler* sc) {
    char path[1024];
    tu_fixture_path(path, sizeof path, "scheduler/scheduler_config.json");
    vkd_scheduler_desc d = {0};
    vkd_error e = {0};
    vkd_status st = vkd_scheduler_config_load(path, &d, &e);
    if (!st) st = vkd_scheduler_init(sc, &d, t->gpu, &e);
    return tu_check(t, st == VKD_OK, "config + init%s%s", st ? ": " : "", st ? e.msg : "");
}

static void schedule_case(tu_ctx* t) {
    tu_case(t, "scaled_linear schedule and set_timesteps(50) vs diffusers");
    vkd_scheduler sc;
    if (!init_fixture_scheduler(t, &sc)) return;
    tu_check(t, sc.d.num_train_timesteps == 1000 && sc.d.beta_start == 0.00085 && sc.d.beta_end == 0.012 &&
                    sc.d.beta_schedule == VKD_BETAS_SCALED_LINEAR && sc.d.prediction_type == VKD_PREDICT_EPSILON &&
                    sc.d.steps_offset == 1 && sc.d.timestep_spacing == VKD_SPACING_LEADING && !sc.d.clip_sample,
             "config fields");
    vkd_safetensors* st = tu_fixture_open(t, "scheduler/alphas_cumprod.safetensors");
    if (st) {
        float betas[1000], acp[1000];
        double acp64[1000];
        vkd_error e = {0};
        bool ok = vkd_safetensors_read_f32(st, "betas", betas, 1000, &e) == VKD_OK &&
                  vkd_safetensors_read_f32(st, "alphas_cumprod", acp, 1000, &e) == VKD_OK;
        double* a64 = tu_fixture_read(t, st, "alphas_cumprod_f64", 1000);
        if (tu_check(t, ok && a64, "read the fixture%s%s", ok ? "" : ": ", ok ? "" : e.msg)) {
            int nb = 0, na = 0;
            for (int i = 0; i < 1000; i++) nb += memcmp(&betas[i], &sc.betas[i], 4) != 0;
            for (int i = 0; i < 1000; i++) na += memcmp(&acp[i], &sc.alphas_cumprod[i], 4) != 0;
            tu_check(t, nb == 0, "betas bit-exact: %d of 1000 differ", nb);
            tu_check(t, na == 0, "alphas_cumprod bit-exact: %d of 1000 differ", na);
            for (int i = 0; i < 1000; i++) acp64[i] = sc.alphas_cumprod[i];
            tu_check_close(t, "alphas_cumprod vs the float64 formula", acp64, a64, 1000, 0, 1e-6);
        }
        free(a64);
        vkd_safetensors_close(st);
    }
    st = tu_fixture_open(t, "scheduler/case_add_noise.safetensors");
    double* want = st ? tu_fixture_read(t, st, "inference_timesteps_50", 50) : NULL;
    vkd_error e = {0};
    if (want && tu_check(t, vkd_scheduler_set_timesteps(&sc, 50, &e) == VKD_OK, "set_timesteps(50)")) {
        int bad = 0;
        for (int i = 0; i < 50; i++) bad += sc.timesteps[i] != (int32_t)want[i];
        tu_check(t, bad == 0 && sc.num_inference_steps == 50, "timesteps %d, %d, .., %d: %d of 50 differ",
                 sc.timesteps[0], sc.timesteps[1], sc.timesteps[49], bad);
        tu_check(t, vkd_scheduler_prev_timestep(&sc, 981) == 961, "prev timestep of 981 is %d",
                 vkd_scheduler_prev_timestep(&sc, 981));
    }
    free(want);
    if (st) vkd_safetensors_close(st);
    vkd_scheduler_free(&sc);
}

static void add_noise_case(tu_ctx* t) {
    tu_case(t, "add_noise and velocity on the GPU vs diffusers (t = 0, 499, 999 per sample)");
    vkd_scheduler sc;
    if (!init_fixture_scheduler(t, &sc)) return;
    vkd_safetensors* st = tu_fixture_open(t, "scheduler/case_add_noise.safetensors");
    const size_t B = 3, n = 4 * 64;
    double *x0 = NULL, *noise = NULL, *ts = NULL, *noisy = NULL, *vel = NULL;
    if (st) {
        x0 = tu_fixture_read(t, st, "original_samples", B * n);
        noise = tu_fixture_read(t, st, "noise", B * n);
        ts = tu_fixture_read(t, st, "timesteps", B);
        noisy = tu_fixture_read(t, st, "noisy_samples", B * n);
        vel = tu_fixture_read(t, st, "velocity", B * n);
    }
    if (x0 && noise && ts && noisy && vel) {
        tu_buf gx = tu_upload_d(t, x0, B * n), gn = tu_upload_d(t, noise, B * n), gt = tu_upload_d(t, ts, B);
        tu_buf go = tu_alloc(t, B * n), gv = tu_alloc(t, B * n);
        vkd_scheduler_add_noise(&sc, t->s, go.addr, gx.addr, gn.addr, gt.addr, (uint32_t)B, (uint32_t)n);
        vkd_scheduler_velocity(&sc, t->s, gv.addr, gx.addr, gn.addr, gt.addr, (uint32_t)B, (uint32_t)n);
        tu_run(t);
        // Pass rule, then bit-exactness: IEEE mul/add are exact in Vulkan and the kernel
        // keeps diffusers' order without fused multiply-adds.
        tu_expect_buf(t, "noisy_samples", go, noisy, 0, 1e-4 * 4);
        tu_expect_buf(t, "velocity", gv, vel, 0, 1e-4 * 4);
        double* got = tu_download_d(t, go);
        double* gotv = tu_download_d(t, gv);
        size_t d1 = 0, d2 = 0;
        for (size_t i = 0; i < B * n; i++) d1 += got[i] != noisy[i], d2 += gotv[i] != vel[i];
        tu_check(t, d1 == 0 && d2 == 0, "bit-exact: %zu noisy and %zu velocity values differ", d1, d2);
        free(got);
        free(gotv);
        tu_free(t, &gx), tu_free(t, &gn), tu_free(t, &gt), tu_free(t, &go), tu_free(t, &gv);
    }
    free(x0), free(noise), free(ts), free(noisy), free(vel);
    if (st) vkd_safetensors_close(st);
    vkd_scheduler_free(&sc);
}

// Every conversion op and its backward vs float64 formulas with the float32 sa, sb.
static void convert_case(tu_ctx* t) {
    const uint32_t B = 4, n = 37;
    tu_case(t, "conversions eps/v/x0 and their backward, B=%u n=%u", B, n);
    vkd_scheduler sc;
    if (!init_fixture_scheduler(t, &sc)) return;
    double ts[4] = {0, 17, 500, 999};
    size_t N = (size_t)B * n;
    double *a = tu_alloc_d(N), *b = tu_alloc_d(N), *g = tu_alloc_d(N), *pa = tu_alloc_d(N), *pb = tu_alloc_d(N);
    tu_fill_normal(t, a, N, 1.0);
    tu_fill_normal(t, b, N, 1.0);
    tu_fill_normal(t, g, N, 1.0);
    tu_fill_normal(t, pa, N, 1.0);
    tu_fill_normal(t, pb, N, 1.0);
    tu_round_f32(a, N), tu_round_f32(b, N), tu_round_f32(g, N), tu_round_f32(pa, N), tu_round_f32(pb, N);
    tu_buf ga = tu_upload_d(t, a, N), gb = tu_upload_d(t, b, N), gg = tu_upload_d(t, g, N), gt = tu_upload_d(t, ts, B);
    static const char* names[] = {"add_noise", "velocity", "eps_from_v", "x0_from_v", "x0_from_eps", "eps_from_x0",
                                  "v_from_eps"};
    double *ref = tu_alloc_d(N), *rda = tu_alloc_d(N), *rdb = tu_alloc_d(N);
    for (int op = 0; op < VKD_SCHED_OP_COUNT; op++) {
        for (uint32_t s = 0; s < B; s++) {
            double sa = sc.sqrt_acp[(int)ts[s]], sb = sc.sqrt_1m_acp[(int)ts[s]];
            double ca[] = {sa, -sb, sb, sa, 1 / sa, 1 / sb, -sb / sa}, cb[] = {sb, sa, sa, -sb, -sb / sa, -sa / sb, 1 / sa};
            for (uint32_t i = 0; i < n; i++) {
                size_t k = (size_t)s * n + i;
                ref[k] = ca[op] * a[k] + cb[op] * b[k];
                rda[k] = pa[k] + ca[op] * g[k];
                rdb[k] = pb[k] + cb[op] * g[k];
            }
        }
        tu_buf go = tu_alloc(t, N), gda = tu_upload_d(t, pa, N), gdb = tu_upload_d(t, pb, N);
        vkd_scheduler_combine(&sc, t->s, (vkd_sched_op)op, go.addr, ga.addr, gb.addr, gt.addr, B, n);
        vkd_scheduler_combine_backward(&sc, t->s, (vkd_sched_op)op, gda.addr, gdb.addr, gg.addr, gt.addr, B, n);
        tu_run(t);
        char what[64];
        snprintf(what, sizeof what, "%s", names[op]);
        // 1/sa reaches 15 at t = 999: relative to the largest value.
        tu_expect_buf(t, what, go, ref, 2e-6, 1e-6);
        snprintf(what, sizeof what, "%s backward da (accumulated)", names[op]);
        tu_expect_buf(t, what, gda, rda, 2e-6, 1e-6);
        snprintf(what, sizeof what, "%s backward db (accumulated)", names[op]);
        tu_expect_buf(t, what, gdb, rdb, 2e-6, 1e-6);
        tu_free(t, &go), tu_free(t, &gda), tu_free(t, &gdb);
    }
    // Round trips through the prediction-type conveniences: x_t from (x0, eps), v from
    // (x0, eps); then v -> eps and v -> x0 must give eps and x0 back.
    sc.d.prediction_type = VKD_PREDICT_V;
    tu_buf xt = tu_alloc(t, N), v = tu_alloc(t, N), eps = tu_alloc(t, N), x0 = tu_alloc(t, N);
    vkd_scheduler_add_noise(&sc, t->s, xt.addr, ga.addr, gb.addr, gt.addr, B, n);
    vkd_scheduler_velocity(&sc, t->s, v.addr, ga.addr, gb.addr, gt.addr, B, n);
    vkd_scheduler_to_epsilon(&sc, t->s, eps.addr, v.addr, xt.addr, gt.addr, B, n);
    vkd_scheduler_to_x0(&sc, t->s, x0.addr, v.addr, xt.addr, gt.addr, B, n);
    tu_run(t);
    tu_expect_buf(t, "v-prediction -> epsilon round trip", eps, b, 1e-6, 2e-6);
    tu_expect_buf(t, "v-prediction -> x0 round trip", x0, a, 1e-6, 2e-6);
    sc.d.prediction_type = VKD_PREDICT_EPSILON;
    vkd_scheduler_to_x0(&sc, t->s, x0.addr, gb.addr, xt.addr, gt.addr, B, n);
    vkd_scheduler_to_epsilon(&sc, t->s, eps.addr, gb.addr, xt.addr, gt.addr, B, n);
    tu_run(t);
    // x0 from eps divides by sa = 0.068 at t = 999: float32 x_t carries 6e-8 absolute error.
    tu_expect_buf(t, "epsilon -> x0 round trip", x0, a, 1e-6, 2e-5);
    tu_expect_buf(t, "epsilon -> epsilon is a copy", eps, b, 0, 0);
    tu_free(t, &xt), tu_free(t, &v), tu_free(t, &eps), tu_free(t, &x0);
    tu_free(t, &ga), tu_free(t, &gb), tu_free(t, &gg), tu_free(t, &gt);
    free(a), free(b), free(g), free(pa), free(pb), free(ref), free(rda), free(rdb);
    vkd_scheduler_free(&sc);
}

// diffusers DDIMScheduler.step, written out as it is (float64 here).
static void ddim_ref(const vkd_scheduler* sc, int t, double eta, const double* m, const double* x, const double* z,
                     double* prev, size_t n) {
    int tp = t - (int)(sc->d.num_train_timesteps / sc->num_inference_steps);
    double at = sc->alphas_cumprod[t], ap = tp >= 0 ? sc->alphas_cumprod[tp] : sc->final_alpha_cumprod;
    double bt = 1 - at;
    double var = ((1 - ap) / bt) * (1 - at / ap), sd = eta * sqrt(var);
    for (size_t i = 0; i < n; i++) {
        double x0, e;
        if (sc->d.prediction_type == VKD_PREDICT_EPSILON) x0 = (x[i] - sqrt(bt) * m[i]) / sqrt(at), e = m[i];
        else if (sc->d.prediction_type == VKD_PREDICT_SAMPLE) x0 = m[i], e = (x[i] - sqrt(at) * x0) / sqrt(bt);
        else x0 = sqrt(at) * x[i] - sqrt(bt) * m[i], e = sqrt(at) * m[i] + sqrt(bt) * x[i];
        prev[i] = sqrt(ap) * x0 + sqrt(1 - ap - sd * sd) * e + (eta > 0 ? sd * z[i] : 0);
    }
}

static void ddim_case(tu_ctx* t) {
    tu_case(t, "DDIM steps (epsilon, v, sample; eta 0 and 0.7) vs diffusers' formulas");
    vkd_scheduler sc;
    if (!init_fixture_scheduler(t, &sc)) return;
    vkd_error e = {0};
    vkd_scheduler_set_timesteps(&sc, 50, &e);
    const size_t n = 53;
    double *m = tu_alloc_d(n), *x = tu_alloc_d(n), *z = tu_alloc_d(n), *ref = tu_alloc_d(n);
    tu_fill_normal(t, m, n, 1.0), tu_fill_normal(t, x, n, 1.0), tu_fill_normal(t, z, n, 1.0);
    tu_round_f32(m, n), tu_round_f32(x, n), tu_round_f32(z, n);
    tu_buf gm = tu_upload_d(t, m, n), gx = tu_upload_d(t, x, n), gz = tu_upload_d(t, z, n), gp = tu_alloc(t, n);
    static const vkd_prediction_type preds[] = {VKD_PREDICT_EPSILON, VKD_PREDICT_V, VKD_PREDICT_SAMPLE};
    static const char* pn[] = {"epsilon", "v", "sample"};
    const int steps[] = {981, 501, 21, 1}; // 1 steps to t = -19: final_alpha_cumprod
    for (int pi = 0; pi < 3; pi++)
        for (int si = 0; si < 4; si++)
            for (int ei = 0; ei < 2; ei++) {
                float eta = ei ? 0.7f : 0.0f;
                sc.d.prediction_type = preds[pi];
                vkd_status s0 = vkd_scheduler_ddim_step(&sc, t->s, gp.addr, gm.addr, gx.addr, ei ? gz.addr : 0,
                                                        steps[si], eta, (uint32_t)n, &e);
                if (!tu_check(t, s0 == VKD_OK, "step%s%s", s0 ? ": " : "", s0 ? e.msg : "")) continue;
                tu_run(t);
                ddim_ref(&sc, steps[si], eta, m, x, z, ref, n);
                char what[96];
                snprintf(what, sizeof what, "%s t=%d eta=%g", pn[pi], steps[si], (double)eta);
                tu_expect_buf(t, what, gp, ref, 2e-6, 2e-6);
            }
    vkd_status s0 = vkd_scheduler_ddim_step(&sc, t->s, gp.addr, gm.addr, gx.addr, 0, 981, 0.5f, (uint32_t)n, &e);
    tu_check(t, s0 == VKD_ERR_INVALID && strstr(e.msg, "noise"), "eta > 0 without noise: %s", e.msg);
    tu_free(t, &gm), tu_free(t, &gx), tu_free(t, &gz), tu_free(t, &gp);
    free(m), free(x), free(z), free(ref);
    vkd_scheduler_free(&sc);
}

static void other_case(tu_ctx* t) {
    tu_case(t, "other spacings and beta schedules; config errors");
    vkd_scheduler sc;
    vkd_error e = {0};
    // trailing: round(arange(1000, 0, -20)) - 1 = 999, 979, .., 19
    vkd_scheduler_init(&sc, &(vkd_scheduler_desc){.timestep_spacing = VKD_SPACING_TRAILING}, NULL, &e);
    vkd_scheduler_set_timesteps(&sc, 50, &e);
    tu_check(t, sc.timesteps[0] == 999 && sc.timesteps[1] == 979 && sc.timesteps[49] == 19, "trailing: %d %d .. %d",
             sc.timesteps[0], sc.timesteps[1], sc.timesteps[49]);
    vkd_scheduler_free(&sc);
    // linspace: round(linspace(0, 999, 50))[::-1] = 999, 979, 958, .., 20, 0
    vkd_scheduler_init(&sc, &(vkd_scheduler_desc){.timestep_spacing = VKD_SPACING_LINSPACE}, NULL, &e);
    vkd_scheduler_set_timesteps(&sc, 50, &e);
    tu_check(t, sc.timesteps[0] == 999 && sc.timesteps[1] == 979 && sc.timesteps[2] == 958 && sc.timesteps[48] == 20 &&
                    sc.timesteps[49] == 0,
             "linspace: %d %d %d .. %d %d", sc.timesteps[0], sc.timesteps[1], sc.timesteps[2], sc.timesteps[48],
             sc.timesteps[49]);
    vkd_scheduler_free(&sc);
    // linear betas (DDPM's 1e-4 .. 0.02) and the cosine schedule vs float64 formulas.
    vkd_scheduler_init(&sc, &(vkd_scheduler_desc){.beta_schedule = VKD_BETAS_LINEAR, .beta_start = 1e-4, .beta_end = 0.02},
                       NULL, &e);
    double got[1000], ref[1000];
    for (int i = 0; i < 1000; i++) got[i] = sc.betas[i], ref[i] = 1e-4 + (0.02 - 1e-4) * i / 999.0;
    tu_check_close(t, "linear betas", got, ref, 1000, 1e-6, 0);
    double acc = 1;
    for (int i = 0; i < 1000; i++) acc *= 1 - ref[i], ref[i] = acc, got[i] = sc.alphas_cumprod[i];
    tu_check_close(t, "linear alphas_cumprod", got, ref, 1000, 1e-5, 0);
    vkd_scheduler_free(&sc);
    vkd_scheduler_init(&sc, &(vkd_scheduler_desc){.beta_schedule = VKD_BETAS_SQUAREDCOS_CAP_V2}, NULL, &e);
    for (int i = 0; i < 1000; i++) {
        double c0 = cos((i / 1000.0 + 0.008) / 1.008 * 3.14159265358979323846 / 2), c1 = cos(((i + 1) / 1000.0 + 0.008) / 1.008 * 3.14159265358979323846 / 2);
        ref[i] = fmin(1 - (c1 * c1) / (c0 * c0), 0.999);
        got[i] = sc.betas[i];
    }
    tu_check_close(t, "squaredcos_cap_v2 betas", got, ref, 1000, 1e-6, 0);
    vkd_scheduler_free(&sc);
    const char* bad1 = "{\"beta_schedule\": \"sigmoid\"}";
    vkd_scheduler_desc d = {0};
    vkd_status s0 = vkd_scheduler_config_parse(bad1, strlen(bad1), "s.json", &d, &e);
    tu_check(t, s0 != VKD_OK && strstr(e.msg, "s.json") && strstr(e.msg, "sigmoid"), "unknown beta_schedule: %s", e.msg);
    const char* bad2 = "{\"prediction_type\": \"v_prediction\", \"steps_offset\": 1.5}";
    s0 = vkd_scheduler_config_parse(bad2, strlen(bad2), "s.json", &d, &e);
    tu_check(t, s0 != VKD_OK && strstr(e.msg, "steps_offset") && d.prediction_type == VKD_PREDICT_V,
             "fractional steps_offset: %s", e.msg);
    s0 = vkd_scheduler_set_timesteps(&sc, 0, &e);
    tu_check(t, s0 == VKD_ERR_INVALID, "0 inference steps is an error: %s", e.msg);
}

void test_scheduler(tu_ctx* t) {
    schedule_case(t);
    add_noise_case(t);
    convert_case(t);
    ddim_case(t);
    other_case(t);
}
