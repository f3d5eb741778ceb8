// Trains the built-in prior (include/vkdream/prior/builtin.h): a small pixel-space
// text-to-image diffusion model on procedural objects rendered by vkdream, with the engine's
// own UNet forward/backward and AdamW, saved in the diffusers folder layout that
// `vkdream generate --model builtin` (and every SD loader in vkdream) reads.
//
//   train_prior --out assets/builtin --steps 20000           (see --help)
#define _POSIX_C_SOURCE 200809L
#include "vkdream/prior/builtin.h"

#include <errno.h>
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

static volatile sig_atomic_t g_stop = 0;
static void on_signal(int sig) {
    (void)sig;
    g_stop = 1;
}

static double now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static bool file_exists(const char* p) {
    struct stat st;
    return !stat(p, &st) && S_ISREG(st.st_mode);
}

static void usage(FILE* f) {
    fprintf(f,
            "usage: train_prior [options]\n"
            "Trains vkdream's built-in prior: a pixel-space UNet (the engine's SD UNet, small config) on\n"
            "captioned renders of procedural objects (\"a red cube, side view\"), generated on the fly,\n"
            "conditioned on a frozen seeded CLIP text encoder; writes the diffusers folder layout.\n"
            "\n"
            "  --out DIR          model folder to write (default assets/builtin)\n"
            "  --tokenizer DIR    tokenizer folder (default DIR/tokenizer, written there when missing: the\n"
            "                     caption vocabulary, as tools/prior_vocab writes it; copied into DIR when elsewhere)\n"
            "  --steps N          train until step N (default 20000); a resumed run continues to N\n"
            "  --batch B          images per step (default 16)\n"
            "  --lr X             peak AdamW learning rate (default 1e-3), linear warm-up over --warmup\n"
            "  --warmup N         warm-up steps (default 200)\n"
            "  --weight-decay X   AdamW decoupled weight decay (default 0.01)\n"
            "  --clip X           gradient clipping by global norm (default 1; 0 = off)\n"
            "  --ema X            EMA decay of the saved weights (default 0.999; 0 = save raw weights)\n"
            "  --seed S           weights, data, noise and timesteps (default 1)\n"
            "  --save-every N     checkpoint + model folder every N steps (default 250)\n"
            "  --eval-every N     EMA loss on 64 fixed held-out examples every N steps (default 500; 0 = off)\n"
            "  --ckpt FILE        training state (weights, Adam moments, EMA, step; default\n"
            "                     DIR/train_state.safetensors, git-ignored)\n"
            "  --resume           continue from --ckpt (bitwise the same run as without the stop)\n"
            "  --log FILE         loss log CSV (default DIR/train_log.csv; appended on --resume)\n"
            "  --f16              store the model folder's weights as F16 (half the size); with --resume and\n"
            "                     --steps 0: re-export the checkpoint's model folder\n"
            "  --tiny             the test architecture (8x8 pixels) for quick checks\n"
            "  --help\n"
            "Ctrl-C (SIGINT/SIGTERM) stops after the current step and saves.\n");
}

typedef struct opts {
    const char* out;
    const char* tokenizer;
    const char* ckpt;
    const char* log;
    uint32_t steps, save_every, eval_every;
    bool resume, f16, tiny;
    vkd_builtin_train_desc td;
} opts;

static bool parse_u32(const char* s, uint32_t* v) {
    char* end;
    errno = 0;
    unsigned long x = strtoul(s, &end, 10);
    if (errno || *end || end == s || x > 0xFFFFFFFFul) return false;
    *v = (uint32_t)x;
    return true;
}
static bool parse_f(const char* s, float* v) {
    char* end;
    errno = 0;
    *v = strtof(s, &end);
    return !errno && !*end && end != s && isfinite(*v);
}

static int parse_args(int argc, char** argv, opts* o) {
    *o = (opts){.out = "assets/builtin", .steps = 20000, .save_every = 250, .eval_every = 500,
                .td = {.batch = 16, .lr = 1e-3f, .warmup = 200, .weight_decay = 0.01f, .max_grad_norm = 1,
                       .ema_decay = 0.999f, .seed = 1}};
    for (int i = 1; i < argc; i++) {
        const char* a = argv[i];
        const char* v = i + 1 < argc ? argv[i + 1] : NULL;
        bool ok = true, takes = true;
        float f;
        if (!strcmp(a, "--help")) {
            usage(stdout);
            exit(0);
        } else if (!strcmp(a, "--resume")) o->resume = true, takes = false;
        else if (!strcmp(a, "--f16")) o->f16 = true, takes = false;
        else if (!strcmp(a, "--tiny")) o->tiny = true, takes = false;
        else if (!v) ok = false;
        else if (!strcmp(a, "--out")) o->out = v;
        else if (!strcmp(a, "--tokenizer")) o->tokenizer = v;
        else if (!strcmp(a, "--ckpt")) o->ckpt = v;
        else if (!strcmp(a, "--log")) o->log = v;
        else if (!strcmp(a, "--steps")) ok = parse_u32(v, &o->steps);
        else if (!strcmp(a, "--batch")) ok = parse_u32(v, &o->td.batch) && o->td.batch >= 1 && o->td.batch <= 256;
        else if (!strcmp(a, "--warmup")) ok = parse_u32(v, &o->td.warmup);
        else if (!strcmp(a, "--save-every")) ok = parse_u32(v, &o->save_every) && o->save_every > 0;
        else if (!strcmp(a, "--eval-every")) ok = parse_u32(v, &o->eval_every);
        else if (!strcmp(a, "--seed")) {
            uint32_t s;
            ok = parse_u32(v, &s);
            o->td.seed = s;
        } else if (!strcmp(a, "--lr")) ok = parse_f(v, &o->td.lr) && o->td.lr > 0;
        else if (!strcmp(a, "--weight-decay")) {
            ok = parse_f(v, &f) && f >= 0;
            o->td.weight_decay = f > 0 ? f : -1;
        } else if (!strcmp(a, "--clip")) {
            ok = parse_f(v, &f) && f >= 0;
            o->td.max_grad_norm = f > 0 ? f : -1;
        } else if (!strcmp(a, "--ema")) {
            ok = parse_f(v, &f) && f >= 0 && f < 1;
            o->td.ema_decay = f > 0 ? f : -1;
        } else {
            fprintf(stderr, "train_prior: unknown option %s (see --help)\n", a);
            return 2;
        }
        if (!ok) {
            fprintf(stderr, "train_prior: %s needs a valid value%s%s (see --help)\n", a, v ? ", not " : "",
                    v ? v : "");
            return 2;
        }
        if (takes) i++;
    }
    if (!o->td.warmup) o->td.warmup = 1;
    return 0;
}

int main(int argc, char** argv) {
    opts o;
    int rc = parse_args(argc, argv, &o);
    if (rc) return rc;
    char tok_dir[4096], ckpt[4096], log_path[4096];
    snprintf(tok_dir, sizeof tok_dir, "%s", o.tokenizer ? o.tokenizer : "");
    if (!o.tokenizer) snprintf(tok_dir, sizeof tok_dir, "%s/tokenizer", o.out);
    snprintf(ckpt, sizeof ckpt, "%s", o.ckpt ? o.ckpt : "");
    if (!o.ckpt) snprintf(ckpt, sizeof ckpt, "%s/train_state.safetensors", o.out);
    snprintf(log_path, sizeof log_path, "%s", o.log ? o.log : "");
    if (!o.log) snprintf(log_path, sizeof log_path, "%s/train_log.csv", o.out);
    if (mkdir(o.out, 0755) && errno != EEXIST) {
        fprintf(stderr, "train_prior: cannot create %s: %s\n", o.out, strerror(errno));
        return 1;
    }

    vkd_error err = {0};
    vkd_tokenizer* tok = NULL;
    char vocab_json[4200];
    snprintf(vocab_json, sizeof vocab_json, "%s/vocab.json", tok_dir);
    if (!o.tokenizer && !file_exists(vocab_json)) {
        int ntok = 0;
        if (vkd_builtin_write_vocab(tok_dir, &ntok, &err)) {
            fprintf(stderr, "train_prior: %s\n", err.msg);
            return 1;
        }
        printf("train_prior: wrote the caption vocabulary (%d tokens) to %s\n", ntok, tok_dir);
    }
    if (vkd_tokenizer_load_dir(tok_dir, &tok, &err)) {
        fprintf(stderr, "train_prior: %s\n", err.msg);
        return 1;
    }
    vkd_tokenizer_info ti = vkd_tokenizer_get_info(tok);
    vkd_builtin_arch arch;
    if (o.tiny) vkd_builtin_arch_tiny(&arch, &ti);
    else vkd_builtin_arch_default(&arch, &ti);

    vkd_gpu* gpu = NULL;
    vkd_builtin_trainer* tr = NULL;
    if (vkd_gpu_create(&(vkd_gpu_desc){0}, &gpu, &err) ||
        vkd_builtin_trainer_create(gpu, &arch, tok, &o.td, &tr, &err)) {
        fprintf(stderr, "train_prior: %s\n", err.msg);
        return 1;
    }
    if (o.resume) {
        if (!file_exists(ckpt)) {
            fprintf(stderr, "train_prior: --resume: no checkpoint at %s\n", ckpt);
            return 1;
        }
        if (vkd_builtin_trainer_load_checkpoint(tr, ckpt, &err)) {
            fprintf(stderr, "train_prior: --resume: %s\n", err.msg);
            return 1;
        }
    } else if (file_exists(ckpt)) {
        fprintf(stderr, "train_prior: %s exists: continue it with --resume, or remove it to start over\n", ckpt);
        return 1;
    }
    uint32_t start = vkd_builtin_trainer_step_count(tr);
    vkd_builtin_parts parts = vkd_builtin_trainer_parts(tr);
    printf("train_prior: %s on %s; UNet %.2fM parameters, text encoder %.2fM (frozen); batch %u, %ux%u pixels; "
           "step %u -> %u\n",
           o.out, vkd_gpu_get_info(gpu)->name, (double)parts.unet_p->total / 1e6, (double)parts.text_p->total / 1e6,
           o.td.batch, arch.unet.sample_size, arch.unet.sample_size, start, o.steps);
    fflush(stdout);

    // The running average continues from the log's line of the resumed step, when it has one.
    double avg = 0;
    bool have_avg = false;
    if (o.resume) {
        FILE* old = fopen(log_path, "r");
        char line[512];
        while (old && fgets(line, sizeof line, old)) {
            unsigned st;
            double l, a;
            if (sscanf(line, "%u,%lf,%lf", &st, &l, &a) == 3 && st == start) avg = a, have_avg = true;
        }
        if (old) fclose(old);
    }
    FILE* log = fopen(log_path, o.resume ? "a" : "w");
    if (!log) {
        fprintf(stderr, "train_prior: cannot write %s: %s\n", log_path, strerror(errno));
        return 1;
    }
    if (!o.resume) fprintf(log, "step,loss,loss_avg,grad_norm,lr,seconds,eval_loss\n");
    signal(SIGINT, on_signal);
    signal(SIGTERM, on_signal);

    char note[160];
    vkd_builtin_save_desc sd = {.f16 = o.f16, .tokenizer_dir = tok_dir, .note = note};
    double t0 = now_s(), rate_t = t0;
    uint32_t rate_step = start;
    double rate = 0;
    int status = 0;
    uint32_t saved_at = start;
    bool tty = isatty(2);
    for (uint32_t step = start; step < o.steps && !g_stop; step++) {
        float loss = 0, gnorm = 0;
        if (vkd_builtin_trainer_step(tr, &loss, &gnorm, &err)) {
            fprintf(stderr, "\ntrain_prior: %s\n", err.msg);
            status = 1;
            break;
        }
        uint32_t done = step + 1;
        if (!isfinite(loss)) {
            fprintf(stderr, "\ntrain_prior: step %u: loss is %g; stopping without saving this step (resume from the "
                            "last checkpoint with a lower --lr)\n", done, (double)loss);
            status = 1;
            break;
        }
        avg = step == start && !have_avg ? loss : 0.99 * avg + 0.01 * loss;
        double now = now_s();
        // Steps per second over the last minute or so (the first step includes pipeline builds).
        if (done == start + 1) rate_t = now, rate_step = done;
        else if (now - rate_t > 60 || rate == 0) rate = (done - rate_step) / (now - rate_t);
        if (now - rate_t > 60) rate_t = now, rate_step = done;
        float warm = step < o.td.warmup ? (float)(step + 1) / (float)o.td.warmup : 1.0f;
        float eval = NAN;
        if (o.eval_every && done % o.eval_every == 0 && vkd_builtin_trainer_eval(tr, 999, 64, true, &eval, &err)) {
            fprintf(stderr, "\ntrain_prior: %s\n", err.msg);
            status = 1;
            break;
        }
        fprintf(log, "%u,%.6f,%.6f,%.4f,%.3g,%.1f,", done, loss, avg, gnorm, o.td.lr * warm, now - t0);
        if (isnan(eval)) fprintf(log, "\n");
        else fprintf(log, "%.6f\n", eval);
        double eta = rate > 0 ? (o.steps - done) / rate : 0;
        // A live line on a terminal; a line every 10 steps in a log file.
        if (tty || done % 10 == 0 || done == o.steps)
            fprintf(stderr, "%strain_prior: step %u/%u | loss %.4f (avg %.4f) | |g| %.3f | %.3f it/s, %.2f img/s | "
                            "ETA %.1f h%s",
                    tty ? "\r" : "", done, o.steps, loss, avg, gnorm, rate, rate * o.td.batch, eta / 3600,
                    tty ? "   " : "\n");
        if (!isnan(eval)) fprintf(stderr, "%strain_prior: step %u: held-out EMA loss %.4f\n", tty ? "\n" : "", done, eval);
        if (done % o.save_every == 0 || done == o.steps || g_stop) {
            fflush(log);
            snprintf(note, sizeof note, "trained %u steps at batch %u by tools/train_prior (seed %llu)", done,
                     o.td.batch, (unsigned long long)o.td.seed);
            mkdir(o.out, 0755);  // in case the folder was removed while training
            if (vkd_builtin_trainer_save_checkpoint(tr, ckpt, &err) ||
                vkd_builtin_trainer_save_model(tr, o.out, &sd, &err)) {
                fprintf(stderr, "\ntrain_prior: %s\n", err.msg);
                status = 1;
                break;
            }
            saved_at = done;
        }
    }
    uint32_t end = vkd_builtin_trainer_step_count(tr);
    // A stop between two steps; or no step to run (e.g. --resume --steps 0 --f16: re-export).
    if (!status && (end != saved_at || end == start)) {
        fflush(log);
        snprintf(note, sizeof note, "trained %u steps at batch %u by tools/train_prior (seed %llu)", end,
                 o.td.batch, (unsigned long long)o.td.seed);
        if (vkd_builtin_trainer_save_checkpoint(tr, ckpt, &err) || vkd_builtin_trainer_save_model(tr, o.out, &sd, &err)) {
            fprintf(stderr, "\ntrain_prior: %s\n", err.msg);
            status = 1;
        }
    }
    fprintf(stderr, "\ntrain_prior: %s at step %u (%.1f min this run); model in %s, state in %s\n",
            g_stop ? "stopped" : "done", end, (now_s() - t0) / 60, o.out, ckpt);
    fclose(log);
    vkd_builtin_trainer_free(tr);
    vkd_tokenizer_free(tok);
    vkd_gpu_destroy(gpu);
    return status;
}
