// DDPM schedule, timesteps, GPU noise/prediction conversions and the DDIM step; see
// include/vkdream/prior/scheduler.h.
#include "vkdream/prior/scheduler.h"
#include "vkdream/nn/accumulate.h"
#include "vkdream/nn/eltwise.h"
#include "prior/scheduler.h"
#include "vkd_shaders.h"

#include <cjson/cJSON.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

// ---------------------------------------------------------------------------
// Betas exactly as PyTorch 1.13 (CPU) computes torch.linspace(start, end, N, float32):
// start/end rounded to float, step = (end - start) / (N - 1) in float; the first half
// counts up from start, the second half down from end; the kernel is vectorised 8 wide
// (AVX2), two vectors per iteration, each vector based at start + step * idx (or
// end - step * (N - 1 - idx)) with a fused multiply-add (the compiler contracts it), and
// lane k = base + k * step; the last N % 16 values take the scalar path. This reproduces
// diffusers' float32 betas bit for bit (checked against the sd-tiny fixture); any
// difference from another build of PyTorch would be in the last bit.
static void torch_linspace_f32(float* out, double start_d, double end_d, uint32_t N) {
    const float start = (float)start_d, end = (float)end_d;
    if (N == 1) {
        out[0] = start;
        return;
    }
    const float step = (end - start) / (float)(N - 1);
    const int64_t halfway = N / 2, V = 8;
    int64_t i = 0;
    for (; i <= (int64_t)N - 2 * V; i += V) {
        float base = i < halfway ? fmaf(step, (float)i, start) : fmaf(-step, (float)((int64_t)N - i - 1), end);
        for (int64_t k = 0; k < V; k++) out[i + k] = fmaf((float)k, step, base);
    }
    for (; i < (int64_t)N; i++)
        out[i] = i < halfway ? fmaf(step, (float)i, start) : fmaf(-step, (float)((int64_t)N - i - 1), end);
}

static double alpha_bar_cos(double t) {
    double c = cos((t + 0.008) / 1.008 * 3.14159265358979323846 / 2);
    return c * c;
}

static vkd_status resolve(vkd_scheduler_desc* d, vkd_error* err) {
    if (!d->num_train_timesteps) d->num_train_timesteps = 1000;
    if (d->beta_start == 0) d->beta_start = 0.00085;
    if (d->beta_end == 0) d->beta_end = 0.012;
    if (d->clip_sample_range == 0) d->clip_sample_range = 1.0f;
    if (d->num_train_timesteps < 2 || d->num_train_timesteps > 100000)
        return vkd_error_set(err, VKD_ERR_INVALID, "scheduler: num_train_timesteps %u is not in 2..100000",
                             d->num_train_timesteps);
    if ((unsigned)d->beta_schedule > VKD_BETAS_SQUAREDCOS_CAP_V2)
        return vkd_error_set(err, VKD_ERR_INVALID, "scheduler: unknown beta schedule %d", (int)d->beta_schedule);
    if ((unsigned)d->prediction_type > VKD_PREDICT_SAMPLE)
        return vkd_error_set(err, VKD_ERR_INVALID, "scheduler: unknown prediction type %d", (int)d->prediction_type);
    if ((unsigned)d->timestep_spacing > VKD_SPACING_LINSPACE)
        return vkd_error_set(err, VKD_ERR_INVALID, "scheduler: unknown timestep spacing %d", (int)d->timestep_spacing);
    if (!(d->beta_start > 0 && d->beta_end > 0 && d->beta_start < 1 && d->beta_end < 1))
        return vkd_error_set(err, VKD_ERR_INVALID, "scheduler: betas %g .. %g must lie in (0, 1)", d->beta_start,
                             d->beta_end);
    return VKD_OK;
}

void vkd_scheduler_free(vkd_scheduler* sc) {
    free(sc->betas);
    free(sc->alphas_cumprod);
    free(sc->sqrt_acp);
    free(sc->timesteps);
    if (sc->gpu && sc->table.addr) vkd_buffer_free(sc->gpu, &sc->table);
    memset(sc, 0, sizeof(*sc));
}

vkd_status vkd_scheduler_init(vkd_scheduler* sc, const vkd_scheduler_desc* desc, vkd_gpu* gpu, vkd_error* err) {
    memset(sc, 0, sizeof(*sc));
    sc->d = desc ? *desc : (vkd_scheduler_desc){0};
    vkd_status st = resolve(&sc->d, err);
    if (st) return st;
    uint32_t N = sc->d.num_train_timesteps;
    sc->betas = malloc(N * sizeof(float));
    sc->alphas_cumprod = malloc(N * sizeof(float));
    sc->sqrt_acp = malloc(2 * N * sizeof(float)); // sqrt_1m_acp is its second half (the device table layout)
    if (!sc->betas || !sc->alphas_cumprod || !sc->sqrt_acp) {
        vkd_scheduler_free(sc);
        return vkd_error_set(err, VKD_ERR_OUT_OF_MEMORY, "scheduler: out of host memory");
    }
    sc->sqrt_1m_acp = NULL; // points into sqrt_acp; not freed on its own
    switch (sc->d.beta_schedule) {
    case VKD_BETAS_SCALED_LINEAR:
        // torch.linspace(beta_start ** 0.5, beta_end ** 0.5, N, dtype=float32) ** 2
        torch_linspace_f32(sc->betas, sqrt(sc->d.beta_start), sqrt(sc->d.beta_end), N);
        for (uint32_t i = 0; i < N; i++) sc->betas[i] = sc->betas[i] * sc->betas[i];
        break;
    case VKD_BETAS_LINEAR:
        torch_linspace_f32(sc->betas, sc->d.beta_start, sc->d.beta_end, N);
        break;
    case VKD_BETAS_SQUAREDCOS_CAP_V2:
        // betas_for_alpha_bar: Python floats, then torch.tensor(..., dtype=float32).
        for (uint32_t i = 0; i < N; i++) {
            double b = 1.0 - alpha_bar_cos((double)(i + 1) / N) / alpha_bar_cos((double)i / N);
            sc->betas[i] = (float)(b < 0.999 ? b : 0.999);
        }
        break;
    }
    // alphas = 1 - betas (float32); torch.cumprod on the CPU multiplies in double
    // (acc_type<float>) and rounds each output to float32.
    double acc = 1.0;
    for (uint32_t i = 0; i < N; i++) {
        float alpha = 1.0f - sc->betas[i];
        acc *= (double)alpha;
        sc->alphas_cumprod[i] = (float)acc;
    }
    // sa = abar ** 0.5 and sb = (1 - abar) ** 0.5 in float32 (sqrtf is correctly rounded, as torch's).
    sc->sqrt_1m_acp = sc->sqrt_acp + N;
    for (uint32_t i = 0; i < N; i++) {
        sc->sqrt_acp[i] = sqrtf(sc->alphas_cumprod[i]);
        sc->sqrt_1m_acp[i] = sqrtf(1.0f - sc->alphas_cumprod[i]);
    }
    sc->final_alpha_cumprod = sc->d.set_alpha_to_one ? 1.0f : sc->alphas_cumprod[0];
    if (gpu) {
        sc->gpu = gpu;
        st = vkd_buffer_alloc(gpu, 2 * N * sizeof(float), &sc->table, err);
        if (!st) st = vkd_buffer_upload(gpu, &sc->table, 0, sc->sqrt_acp, 2 * N * sizeof(float), err);
        if (st) {
            vkd_error_prefix(err, "scheduler table: ");
            vkd_scheduler_free(sc);
            return st;
        }
    }
    return VKD_OK;
}

vkd_status vkd_scheduler_set_timesteps(vkd_scheduler* sc, uint32_t n, vkd_error* err) {
    uint32_t N = sc->d.num_train_timesteps;
    if (n < 1 || n > N)
        return vkd_error_set(err, VKD_ERR_INVALID, "scheduler: %u inference steps, expected 1..%u", n, N);
    int32_t* ts = malloc(n * sizeof *ts);
    if (!ts) return vkd_error_set(err, VKD_ERR_OUT_OF_MEMORY, "scheduler: out of host memory");
    switch (sc->d.timestep_spacing) {
    case VKD_SPACING_LEADING: {
        uint32_t ratio = N / n;
        for (uint32_t i = 0; i < n; i++) ts[i] = (int32_t)((n - 1 - i) * ratio) + sc->d.steps_offset;
        break;
    }
    case VKD_SPACING_TRAILING: {
        // np.round(np.arange(N, 0, -N / n)).astype(int64) - 1, ratio a float64
        double ratio = (double)N / n;
        for (uint32_t i = 0; i < n; i++) ts[i] = (int32_t)nearbyint((double)N - i * ratio) - 1;
        break;
    }
    case VKD_SPACING_LINSPACE:
        // np.linspace(0, N - 1, n).round()[::-1]
        for (uint32_t i = 0; i < n; i++) {
            uint32_t k = n - 1 - i;
            double v = n == 1 ? 0.0 : (k == n - 1 ? (double)(N - 1) : (double)k * ((double)(N - 1) / (n - 1)));
            ts[i] = (int32_t)nearbyint(v);
        }
        break;
    }
    free(sc->timesteps);
    sc->timesteps = ts;
    sc->num_inference_steps = n;
    return VKD_OK;
}

int32_t vkd_scheduler_prev_timestep(const vkd_scheduler* sc, int32_t t) {
    uint32_t n = sc->num_inference_steps ? sc->num_inference_steps : 1;
    return t - (int32_t)(sc->d.num_train_timesteps / n);
}

// ---------------------------------------------------------------------------
// GPU combinations

static void dispatch_combine(const vkd_scheduler* sc, vkd_stream* s, vkd_sched_op op, bool bwd, vkd_addr out,
                             vkd_addr a, vkd_addr b, vkd_addr timesteps, uint32_t B, uint32_t n) {
    if (!sc->table.addr) {
        vkd_stream_fail(s, VKD_ERR_INVALID, "scheduler: created without a gpu, so it has no device table");
        return;
    }
    if ((unsigned)op >= VKD_SCHED_OP_COUNT) {
        vkd_stream_fail(s, VKD_ERR_INVALID, "scheduler: unknown op %d", (int)op);
        return;
    }
    uint64_t total = (uint64_t)B * n;
    if (total > UINT32_MAX) {
        vkd_stream_fail(s, VKD_ERR_INVALID, "scheduler: %llu elements exceed 2^32", (unsigned long long)total);
        return;
    }
    if (!total || !timesteps) {
        if (total) vkd_stream_fail(s, VKD_ERR_INVALID, "scheduler: timesteps missing");
        return;
    }
    vkd_sched_combine_push pc = {.dst = out, .xa = a, .xb = b, .table = sc->table.addr, .timesteps = timesteps,
                                 .n = n, .total = (uint32_t)total, .N = sc->d.num_train_timesteps, .op = (uint32_t)op};
    if (bwd)
        vkd_stream_dispatch_1d(s, VKD_KERNEL(prior_scheduler_combine_bwd), &pc, sizeof pc, total, 256);
    else
        vkd_stream_dispatch_1d(s, VKD_KERNEL(prior_scheduler_combine_fwd), &pc, sizeof pc, total, 256);
}

void vkd_scheduler_combine(const vkd_scheduler* sc, vkd_stream* s, vkd_sched_op op, vkd_addr out, vkd_addr a,
                           vkd_addr b, vkd_addr timesteps, uint32_t B, uint32_t n) {
    dispatch_combine(sc, s, op, false, out, a, b, timesteps, B, n);
}

void vkd_scheduler_combine_backward(const vkd_scheduler* sc, vkd_stream* s, vkd_sched_op op, vkd_addr da, vkd_addr db,
                                    vkd_addr dout, vkd_addr timesteps, uint32_t B, uint32_t n) {
    if (!da && !db) return;
    dispatch_combine(sc, s, op, true, da, db, dout, timesteps, B, n);
}

void vkd_scheduler_add_noise(const vkd_scheduler* sc, vkd_stream* s, vkd_addr noisy, vkd_addr x0, vkd_addr noise,
                             vkd_addr timesteps, uint32_t B, uint32_t n) {
    vkd_scheduler_combine(sc, s, VKD_SCHED_ADD_NOISE, noisy, x0, noise, timesteps, B, n);
}

void vkd_scheduler_velocity(const vkd_scheduler* sc, vkd_stream* s, vkd_addr v, vkd_addr x0, vkd_addr noise,
                            vkd_addr timesteps, uint32_t B, uint32_t n) {
    vkd_scheduler_combine(sc, s, VKD_SCHED_VELOCITY, v, x0, noise, timesteps, B, n);
}

void vkd_scheduler_to_epsilon(const vkd_scheduler* sc, vkd_stream* s, vkd_addr eps, vkd_addr model_out, vkd_addr x_t,
                              vkd_addr timesteps, uint32_t B, uint32_t n) {
    switch (sc->d.prediction_type) {
    case VKD_PREDICT_EPSILON:
        if (eps != model_out) vkd_stream_copy(s, eps, model_out, B * n);
        break;
    case VKD_PREDICT_V: vkd_scheduler_combine(sc, s, VKD_SCHED_EPS_FROM_V, eps, x_t, model_out, timesteps, B, n); break;
    case VKD_PREDICT_SAMPLE:
        vkd_scheduler_combine(sc, s, VKD_SCHED_EPS_FROM_X0, eps, x_t, model_out, timesteps, B, n);
        break;
    }
}

void vkd_scheduler_to_x0(const vkd_scheduler* sc, vkd_stream* s, vkd_addr x0, vkd_addr model_out, vkd_addr x_t,
                         vkd_addr timesteps, uint32_t B, uint32_t n) {
    switch (sc->d.prediction_type) {
    case VKD_PREDICT_EPSILON:
        vkd_scheduler_combine(sc, s, VKD_SCHED_X0_FROM_EPS, x0, x_t, model_out, timesteps, B, n);
        break;
    case VKD_PREDICT_V: vkd_scheduler_combine(sc, s, VKD_SCHED_X0_FROM_V, x0, x_t, model_out, timesteps, B, n); break;
    case VKD_PREDICT_SAMPLE:
        if (x0 != model_out) vkd_stream_copy(s, x0, model_out, B * n);
        break;
    }
}

// ---------------------------------------------------------------------------
// DDIM

vkd_status vkd_scheduler_ddim_coefs(const vkd_scheduler* sc, int32_t t, float eta, double* cs, double* cm, double* cn,
                                    vkd_error* err) {
    int32_t N = (int32_t)sc->d.num_train_timesteps;
    if (!sc->num_inference_steps)
        return vkd_error_set(err, VKD_ERR_INVALID, "scheduler: DDIM step before set_timesteps");
    if (t < 0 || t >= N) return vkd_error_set(err, VKD_ERR_INVALID, "scheduler: DDIM step at t=%d outside 0..%d", t, N - 1);
    if (sc->d.clip_sample)
        return vkd_error_set(err, VKD_ERR_UNSUPPORTED, "scheduler: clip_sample is not supported by the DDIM step");
    if (!(eta >= 0)) return vkd_error_set(err, VKD_ERR_INVALID, "scheduler: DDIM eta %g must be >= 0", (double)eta);
    int32_t tp = vkd_scheduler_prev_timestep(sc, t);
    double at = sc->alphas_cumprod[t];
    double ap = tp >= 0 ? sc->alphas_cumprod[tp] : sc->final_alpha_cumprod;
    double bt = 1.0 - at, bp = 1.0 - ap;
    double var = (bp / bt) * (1.0 - at / ap);
    double sigma = eta * sqrt(var);
    double dir2 = 1.0 - ap - sigma * sigma;
    double dir = dir2 > 0 ? sqrt(dir2) : 0.0;
    double sa = sqrt(at), sb = sqrt(bt), sp = sqrt(ap);
    // prev = sp * x0 + dir * eps + sigma * noise with (x0, eps) linear in (sample, model_out).
    switch (sc->d.prediction_type) {
    case VKD_PREDICT_EPSILON: // x0 = (x - sb e) / sa, eps = e
        *cs = sp / sa;
        *cm = dir - sp * sb / sa;
        break;
    case VKD_PREDICT_V: // x0 = sa x - sb v, eps = sa v + sb x
        *cs = sp * sa + dir * sb;
        *cm = dir * sa - sp * sb;
        break;
    case VKD_PREDICT_SAMPLE: // x0 = m, eps = (x - sa m) / sb
        *cs = dir / sb;
        *cm = sp - dir * sa / sb;
        break;
    }
    *cn = sigma;
    return VKD_OK;
}

vkd_status vkd_scheduler_ddim_step(const vkd_scheduler* sc, vkd_stream* s, vkd_addr prev, vkd_addr model_out,
                                   vkd_addr sample, vkd_addr noise, int32_t t, float eta, uint32_t n, vkd_error* err) {
    double cs, cm, cn;
    vkd_status st = vkd_scheduler_ddim_coefs(sc, t, eta, &cs, &cm, &cn, err);
    if (st) return st;
    if (cn != 0 && !noise)
        return vkd_error_set(err, VKD_ERR_INVALID, "scheduler: DDIM step with eta %g needs noise", (double)eta);
    vkd_scale_forward(s, prev, sample, n, (float)cs, 0.0f);
    vkd_accumulate(s, prev, model_out, (float)cm, n);
    if (cn != 0) vkd_accumulate(s, prev, noise, (float)cn, n);
    return VKD_OK;
}

// ---------------------------------------------------------------------------
// Config

static vkd_status bad(vkd_error* err, const char* what, const char* key, const char* why) {
    return vkd_error_set(err, VKD_ERR_INVALID, "%s: \"%s\" %s", what, key, why);
}

vkd_status vkd_scheduler_config_parse(const char* json, size_t len, const char* what, vkd_scheduler_desc* d,
                                      vkd_error* err) {
    if (!what) what = "scheduler config";
    cJSON* root = cJSON_ParseWithLength(json, len);
    if (!root || !cJSON_IsObject(root)) {
        cJSON_Delete(root);
        return vkd_error_set(err, VKD_ERR_INVALID, "%s: not a JSON object", what);
    }
    vkd_status st = VKD_OK;
    const cJSON* v;
    if ((v = cJSON_GetObjectItemCaseSensitive(root, "num_train_timesteps")) && !cJSON_IsNull(v)) {
        if (!cJSON_IsNumber(v) || v->valuedouble < 2 || v->valuedouble > 100000 || v->valuedouble != floor(v->valuedouble))
            st = bad(err, what, "num_train_timesteps", "must be an integer in 2..100000");
        else
            d->num_train_timesteps = (uint32_t)v->valuedouble;
    }
    if (!st && (v = cJSON_GetObjectItemCaseSensitive(root, "beta_start")) && !cJSON_IsNull(v)) {
        if (!cJSON_IsNumber(v)) st = bad(err, what, "beta_start", "must be a number");
        else d->beta_start = v->valuedouble;
    }
    if (!st && (v = cJSON_GetObjectItemCaseSensitive(root, "beta_end")) && !cJSON_IsNull(v)) {
        if (!cJSON_IsNumber(v)) st = bad(err, what, "beta_end", "must be a number");
        else d->beta_end = v->valuedouble;
    }
    if (!st && (v = cJSON_GetObjectItemCaseSensitive(root, "beta_schedule")) && !cJSON_IsNull(v)) {
        const char* s = cJSON_IsString(v) ? v->valuestring : "";
        if (!strcmp(s, "scaled_linear")) d->beta_schedule = VKD_BETAS_SCALED_LINEAR;
        else if (!strcmp(s, "linear")) d->beta_schedule = VKD_BETAS_LINEAR;
        else if (!strcmp(s, "squaredcos_cap_v2")) d->beta_schedule = VKD_BETAS_SQUAREDCOS_CAP_V2;
        else
            st = vkd_error_set(err, VKD_ERR_UNSUPPORTED,
                               "%s: beta_schedule \"%s\" is not supported (scaled_linear, linear, squaredcos_cap_v2)",
                               what, s);
    }
    if (!st && (v = cJSON_GetObjectItemCaseSensitive(root, "prediction_type")) && !cJSON_IsNull(v)) {
        const char* s = cJSON_IsString(v) ? v->valuestring : "";
        if (!strcmp(s, "epsilon")) d->prediction_type = VKD_PREDICT_EPSILON;
        else if (!strcmp(s, "v_prediction")) d->prediction_type = VKD_PREDICT_V;
        else if (!strcmp(s, "sample")) d->prediction_type = VKD_PREDICT_SAMPLE;
        else
            st = vkd_error_set(err, VKD_ERR_UNSUPPORTED,
                               "%s: prediction_type \"%s\" is not supported (epsilon, v_prediction, sample)", what, s);
    }
    if (!st && (v = cJSON_GetObjectItemCaseSensitive(root, "timestep_spacing")) && !cJSON_IsNull(v)) {
        const char* s = cJSON_IsString(v) ? v->valuestring : "";
        if (!strcmp(s, "leading")) d->timestep_spacing = VKD_SPACING_LEADING;
        else if (!strcmp(s, "trailing")) d->timestep_spacing = VKD_SPACING_TRAILING;
        else if (!strcmp(s, "linspace")) d->timestep_spacing = VKD_SPACING_LINSPACE;
        else
            st = vkd_error_set(err, VKD_ERR_UNSUPPORTED,
                               "%s: timestep_spacing \"%s\" is not supported (leading, trailing, linspace)", what, s);
    }
    if (!st && (v = cJSON_GetObjectItemCaseSensitive(root, "steps_offset")) && !cJSON_IsNull(v)) {
        if (!cJSON_IsNumber(v) || fabs(v->valuedouble) > 1000 || v->valuedouble != floor(v->valuedouble))
            st = bad(err, what, "steps_offset", "must be a small integer");
        else
            d->steps_offset = (int32_t)v->valuedouble;
    }
    if (!st && (v = cJSON_GetObjectItemCaseSensitive(root, "set_alpha_to_one")) && cJSON_IsBool(v))
        d->set_alpha_to_one = cJSON_IsTrue(v);
    if (!st && (v = cJSON_GetObjectItemCaseSensitive(root, "clip_sample")) && cJSON_IsBool(v))
        d->clip_sample = cJSON_IsTrue(v);
    if (!st && (v = cJSON_GetObjectItemCaseSensitive(root, "clip_sample_range")) && cJSON_IsNumber(v))
        d->clip_sample_range = (float)v->valuedouble;
    if (!st && (v = cJSON_GetObjectItemCaseSensitive(root, "trained_betas")) && !cJSON_IsNull(v))
        st = vkd_error_set(err, VKD_ERR_UNSUPPORTED, "%s: trained_betas is not supported", what);
    if (!st && cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(root, "rescale_betas_zero_snr")))
        st = vkd_error_set(err, VKD_ERR_UNSUPPORTED, "%s: rescale_betas_zero_snr is not supported", what);
    if (!st && cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(root, "thresholding")))
        st = vkd_error_set(err, VKD_ERR_UNSUPPORTED, "%s: thresholding is not supported", what);
    cJSON_Delete(root);
    return st;
}

vkd_status vkd_scheduler_config_load(const char* path, vkd_scheduler_desc* d, vkd_error* err) {
    FILE* f = fopen(path, "rb");
    if (!f) return vkd_error_set(err, VKD_ERR_IO, "%s: cannot open the scheduler config", path);
    char buf[1 << 16];
    size_t len = fread(buf, 1, sizeof buf, f);
    bool too_big = len == sizeof buf, bad_read = ferror(f);
    fclose(f);
    if (bad_read) return vkd_error_set(err, VKD_ERR_IO, "%s: read error", path);
    if (too_big) return vkd_error_set(err, VKD_ERR_INVALID, "%s: larger than 64 KiB, not a scheduler config", path);
    return vkd_scheduler_config_parse(buf, len, path, d, err);
}
