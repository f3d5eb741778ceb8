// Scene settings: one table drives parsing, flag overrides, help and writing.
#define _POSIX_C_SOURCE 200809L
#include "app/scene.h"

#include <errno.h>
#include <ini.h>
#include <math.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

typedef enum key_type { K_INT, K_FLOAT, K_STR, K_BOOL, K_ENUM, K_RGB } key_type;

typedef struct scene_key {
    const char* section;
    const char* name;
    key_type type;
    size_t offset;
    size_t size;          // K_STR / K_ENUM: capacity of the char array
    double min, max;      // K_INT / K_FLOAT range (inclusive)
    const char* allowed;  // K_ENUM: '|'-separated values
    const char* help;
} scene_key;

#define F(field) offsetof(vkd_scene, field)
#define S(field) sizeof(((vkd_scene*)0)->field)
#define KINT(sec, name, field, lo, hi, help) {sec, name, K_INT, F(field), 0, lo, hi, NULL, help}
#define KFLT(sec, name, field, lo, hi, help) {sec, name, K_FLOAT, F(field), 0, lo, hi, NULL, help}
#define KSTR(sec, name, field, help) {sec, name, K_STR, F(field), S(field), 0, 0, NULL, help}
#define KBOOL(sec, name, field, help) {sec, name, K_BOOL, F(field), 0, 0, 0, NULL, help}
#define KENUM(sec, name, field, allowed, help) {sec, name, K_ENUM, F(field), S(field), 0, 0, allowed, help}
#define KRGB(sec, name, field, help) {sec, name, K_RGB, F(field), 0, 0, 1, NULL, help}

static const scene_key keys[] = {
    KSTR("run", "prompt", prompt, "what to generate"),
    KSTR("run", "negative_prompt", negative_prompt, "what to avoid (the unconditional side of CFG)"),
    KENUM("run", "method", method, "sds|vsd|bsd|asd", "score distillation method"),
    KENUM("run", "repr", repr, "gaussians|nerf", "3D representation"),
    KINT("run", "steps", steps, 0, 1e7, "optimisation steps (0: write the initial asset)"),
    KINT("run", "seed", seed, 0, 2147483647, "random seed (cameras, noise, init)"),
    KSTR("prior", "model", model, "builtin, a diffusers folder, or a single-file .safetensors"),
    KSTR("prior", "tokenizer", tokenizer, "tokenizer folder for single-file models (empty: beside the model)"),
    KENUM("prior", "prediction", prediction, "auto|epsilon|v_prediction", "what the UNet predicts (auto: config)"),
    KENUM("prior", "precision", precision, "auto|f32|f16",
          "weight storage of SD models: f16 halves their memory, math stays fp32 (auto: f16 on GPUs, f32 on CPUs)"),
    KFLT("prior", "guidance_scale", guidance_scale, 0, 1000, "classifier-free guidance scale s"),
    KFLT("prior", "t_min", t_min, 0, 1, "smallest diffusion time, fraction of 1000"),
    KFLT("prior", "t_max", t_max, 0, 1, "largest diffusion time, fraction of 1000"),
    KENUM("prior", "t_schedule", t_schedule, "uniform|anneal|step|sqrt", "how the t range moves during the run"),
    KFLT("prior", "t_anneal_max", t_anneal_max, 0, 1, "t_max after annealing"),
    KINT("prior", "t_anneal_steps", t_anneal_steps, 0, 1e7, "anneal length (anneal, sqrt) or switch step (step)"),
    KENUM("prior", "weighting", weighting, "sds|uniform|sqrt_abar", "w(t): 1-abar_t, 1, or sqrt(abar_t)"),
    KFLT("prior", "grad_clip", grad_clip, 0, 1e9, "clip |g| per element (0 = off)"),
    KFLT("prior", "grad_clip_end", grad_clip_end, 0, 1e9, "clip value at the last step, linear schedule (0 = constant)"),
    KBOOL("prior", "view_dependent", view_dependent, "append front/side/back/overhead view to the prompt"),
    KBOOL("prior", "latent", latent, "latent-space guidance through the VAE encoder (SD models)"),
    KFLT("method", "bsd_lambda", bsd_lambda, 0, 100, "BSD lambda_guidance k"),
    KENUM("method", "bsd_variant", bsd_variant, "standard|auto", "BSD direction variant"),
    KFLT("method", "asd_eta", asd_eta, 0, 10, "ASD time offset eta"),
    KINT("method", "vsd_lora_rank", vsd_lora_rank, 1, 256, "VSD LoRA rank"),
    KFLT("method", "vsd_lora_lr", vsd_lora_lr, 0, 1, "VSD LoRA AdamW learning rate"),
    KFLT("method", "vsd_guidance_scale", vsd_guidance_scale, 0, 1000, "VSD CFG scale on the pretrained side"),
    KFLT("method", "vsd_camera_drop", vsd_camera_drop, 0, 1, "probability of zeroing the camera condition"),
    KINT("render", "width", width, 8, 4096, "final render width"),
    KINT("render", "height", height, 8, 4096, "final render height"),
    KINT("render", "res_start", res_start, 0, 4096, "progressive resolution start (0 = fixed)"),
    KINT("render", "res_ramp_steps", res_ramp_steps, 0, 1e7, "steps to reach the final resolution"),
    KINT("render", "batch", batch, 1, 64, "views per step"),
    KFLT("render", "elevation_min", elevation_min, -90, 90, "camera elevation range, degrees"),
    KFLT("render", "elevation_max", elevation_max, -90, 90, "camera elevation range, degrees"),
    KFLT("render", "azimuth_min", azimuth_min, -360, 360, "camera azimuth range, degrees"),
    KFLT("render", "azimuth_max", azimuth_max, -360, 360, "camera azimuth range, degrees"),
    KFLT("render", "distance_min", distance_min, 0.01, 1000, "camera distance range"),
    KFLT("render", "distance_max", distance_max, 0.01, 1000, "camera distance range"),
    KFLT("render", "fov_min", fov_min, 1, 170, "vertical field of view range, degrees"),
    KFLT("render", "fov_max", fov_max, 1, 170, "vertical field of view range, degrees"),
    KRGB("render", "background", background, "background color r,g,b in [0,1]"),
    KENUM("render", "shading", shading, "albedo|lambertian|textureless|mixed", "shading of the renders"),
    KINT("gaussians", "points", gs_points, 1, 1e8, "initial Gaussians"),
    KFLT("gaussians", "radius", gs_radius, 0.001, 100, "radius of the initial ball"),
    KINT("gaussians", "sh_degree", gs_sh_degree, 0, 3, "spherical-harmonics degree"),
    KFLT("gaussians", "lr_position", gs_lr_position, 0, 10, "Adam lr of positions"),
    KFLT("gaussians", "lr_scale", gs_lr_scale, 0, 10, "Adam lr of log-scales"),
    KFLT("gaussians", "lr_rotation", gs_lr_rotation, 0, 10, "Adam lr of rotations"),
    KFLT("gaussians", "lr_opacity", gs_lr_opacity, 0, 10, "Adam lr of opacity logits"),
    KFLT("gaussians", "lr_color", gs_lr_color, 0, 10, "Adam lr of SH colors"),
    KINT("gaussians", "densify_from", gs_densify_from, 0, 1e7, "first densification step"),
    KINT("gaussians", "densify_until", gs_densify_until, 0, 1e7, "last densification step"),
    KINT("gaussians", "densify_every", gs_densify_every, 1, 1e7, "densify interval"),
    KFLT("gaussians", "densify_grad", gs_densify_grad, 0, 1, "view-space gradient threshold"),
    KFLT("gaussians", "prune_opacity", gs_prune_opacity, 0, 1, "prune below this opacity"),
    KINT("gaussians", "opacity_reset_every", gs_opacity_reset_every, 0, 1e7, "opacity reset interval (0 = never)"),
    KINT("nerf", "log2_table", nerf_log2_table, 10, 24, "hash table size per level, log2"),
    KINT("nerf", "levels", nerf_levels, 1, 32, "hash-grid levels"),
    KFLT("nerf", "radius", nerf_radius, 0.01, 100, "bounding sphere radius"),
    KINT("nerf", "samples", nerf_samples, 8, 4096, "samples per ray"),
    KFLT("nerf", "lr_grid", nerf_lr_grid, 0, 10, "Adam lr of the hash tables"),
    KFLT("nerf", "lr_mlp", nerf_lr_mlp, 0, 10, "Adam lr of the MLPs"),
    KFLT("nerf", "opacity_weight", nerf_opacity_weight, 0, 1e4, "sparsity regulariser weight"),
    KFLT("nerf", "orientation_weight", nerf_orientation_weight, 0, 1e4, "orientation regulariser weight"),
    KFLT("nerf", "entropy_weight", nerf_entropy_weight, 0, 1e4, "opacity entropy regulariser weight"),
    KSTR("output", "out", out, "output folder"),
    KINT("output", "preview_every", preview_every, 0, 1e7, "write a preview image every N steps (0 = off)"),
    KINT("output", "checkpoint_every", checkpoint_every, 0, 1e7, "checkpoint every N steps (0 = only at the end)"),
    KINT("output", "turntable_frames", turntable_frames, 0, 3600, "turntable frames written at the end"),
    KBOOL("output", "export_mesh", export_mesh, "export a mesh at the end"),
    KENUM("output", "mesh_format", mesh_format, "obj|ply|glb", "mesh format"),
    KINT("output", "mesh_faces", mesh_faces, 0, 1e8, "decimate the mesh to this many triangles (0 = keep all)"),
};
#define NKEYS (sizeof keys / sizeof keys[0])

void vkd_scene_defaults(vkd_scene* sc) {
    // The built-in prior's scene (what `vkdream generate "a red cube"` runs): DreamGaussian-style
    // SDS on Gaussians sized for a CPU (64^2 renders, resized to the prior's 32^2, 4 views a
    // step, 300 steps: a few minutes on 2 cores). Guidance 7.5: for this small pixel model 25
    // gave a noisier, less cube-like asset (held-out IoU 0.71 against 0.82 at 7.5, 200 steps).
    // Scene files for Stable Diffusion set their own (e.g. scenes/sds_gaussians.ini: 100).
    *sc = (vkd_scene){
        .method = "sds", .repr = "gaussians", .steps = 300, .seed = 0,
        .model = "builtin", .prediction = "auto", .precision = "auto", .guidance_scale = 7.5f,
        .t_min = 0.02f, .t_max = 0.98f, .t_schedule = "anneal", .t_anneal_max = 0.5f, .t_anneal_steps = 200,
        .weighting = "sds", .grad_clip = 0, .grad_clip_end = 0, .view_dependent = true, .latent = true,
        .bsd_lambda = 0.1f, .bsd_variant = "standard", .asd_eta = 0.1f,
        .vsd_lora_rank = 4, .vsd_lora_lr = 1e-4f, .vsd_guidance_scale = 7.5f, .vsd_camera_drop = 0.1f,
        .width = 64, .height = 64, .res_start = 0, .res_ramp_steps = 0, .batch = 4,
        .elevation_min = -10, .elevation_max = 45, .azimuth_min = -180, .azimuth_max = 180,
        .distance_min = 2.5f, .distance_max = 2.5f, .fov_min = 45, .fov_max = 50,
        .background = {1, 1, 1}, .shading = "albedo",
        .gs_points = 2000, .gs_radius = 0.5f, .gs_sh_degree = 0,
        .gs_lr_position = 1e-3f, .gs_lr_scale = 5e-3f, .gs_lr_rotation = 1e-3f, .gs_lr_opacity = 5e-2f,
        .gs_lr_color = 1e-2f, .gs_densify_from = 100, .gs_densify_until = 300, .gs_densify_every = 50,
        .gs_densify_grad = 0.01f, .gs_prune_opacity = 0.01f, .gs_opacity_reset_every = 0,
        .nerf_log2_table = 19, .nerf_levels = 16, .nerf_radius = 1.0f, .nerf_samples = 256,
        .nerf_lr_grid = 1e-2f, .nerf_lr_mlp = 1e-3f, .nerf_opacity_weight = 0, .nerf_orientation_weight = 0,
        .nerf_entropy_weight = 0,
        .out = "out", .preview_every = 50, .checkpoint_every = 100, .turntable_frames = 24,
        .export_mesh = true, .mesh_format = "glb", .mesh_faces = 20000,
    };
}

static bool enum_allows(const char* allowed, const char* v) {
    size_t n = strlen(v);
    for (const char* p = allowed; *p;) {
        const char* bar = strchr(p, '|');
        size_t len = bar ? (size_t)(bar - p) : strlen(p);
        if (len == n && !strncmp(p, v, n)) return true;
        if (!bar) break;
        p = bar + 1;
    }
    return false;
}

static bool parse_bool(const char* v, bool* out) {
    static const char* yes[] = {"1", "true", "yes", "on"};
    static const char* no[] = {"0", "false", "no", "off"};
    for (int i = 0; i < 4; i++) {
        if (!strcasecmp(v, yes[i])) return *out = true, true;
        if (!strcasecmp(v, no[i])) return *out = false, true;
    }
    return false;
}

// Sets key k from text; on failure fills err with what was expected (without location).
static vkd_status set_key(vkd_scene* sc, const scene_key* k, const char* v, vkd_error* err) {
    char* base = (char*)sc + k->offset;
    char* end = NULL;
    errno = 0;
    switch (k->type) {
    case K_INT: {
        long long x = strtoll(v, &end, 10);
        if (end == v || *end || errno || x < k->min || x > k->max)
            return vkd_error_set(err, VKD_ERR_INVALID, "%s.%s = '%s': expected an integer in [%.0f, %.0f]", k->section,
                                 k->name, v, k->min, k->max);
        *(int*)base = (int)x;
        return VKD_OK;
    }
    case K_FLOAT: {
        double x = strtod(v, &end);
        if (end == v || *end || errno || !isfinite(x) || x < k->min || x > k->max)
            return vkd_error_set(err, VKD_ERR_INVALID, "%s.%s = '%s': expected a number in [%g, %g]", k->section,
                                 k->name, v, k->min, k->max);
        *(float*)base = (float)x;
        return VKD_OK;
    }
    case K_STR:
        if (strlen(v) >= k->size)
            return vkd_error_set(err, VKD_ERR_INVALID, "%s.%s: value longer than %zu bytes", k->section, k->name,
                                 k->size - 1);
        snprintf(base, k->size, "%s", v);
        return VKD_OK;
    case K_ENUM:
        if (!enum_allows(k->allowed, v))
            return vkd_error_set(err, VKD_ERR_INVALID, "%s.%s = '%s': expected one of %s", k->section, k->name, v,
                                 k->allowed);
        snprintf(base, k->size, "%s", v);
        return VKD_OK;
    case K_BOOL:
        if (!parse_bool(v, (bool*)base))
            return vkd_error_set(err, VKD_ERR_INVALID, "%s.%s = '%s': expected true or false", k->section, k->name, v);
        return VKD_OK;
    case K_RGB: {
        float rgb[3];
        const char* p = v;
        for (int i = 0; i < 3; i++) {
            double x = strtod(p, &end);
            if (end == p || x < 0 || x > 1) break;
            rgb[i] = (float)x;
            p = end;
            while (*p == ' ') p++;
            if (i < 2 && *p == ',') p++;
            else if (i < 2) { p = NULL; break; }
            if (i == 2 && *p == 0) {
                memcpy(base, rgb, sizeof rgb);
                return VKD_OK;
            }
        }
        return vkd_error_set(err, VKD_ERR_INVALID, "%s.%s = '%s': expected three numbers in [0,1] as r,g,b",
                             k->section, k->name, v);
    }
    }
    return VKD_ERR_INVALID;
}

static const scene_key* find_key(const char* section, const char* name) {
    for (size_t i = 0; i < NKEYS; i++)
        if (!strcmp(keys[i].name, name) && (!section || !strcmp(keys[i].section, section))) return &keys[i];
    return NULL;
}

typedef struct parse_state {
    vkd_scene* sc;
    vkd_error err;
    bool failed;
} parse_state;

static int scene_ini_handler(void* user, const char* section, const char* name, const char* value) {
    parse_state* ps = user;
    if (ps->failed) return 1;  // report only the first problem (inih keeps the first error line)
    const scene_key* k = find_key(section, name);
    if (!k) {
        bool section_known = false;
        for (size_t i = 0; i < NKEYS; i++) section_known |= !strcmp(keys[i].section, section);
        char list[1024] = "";
        size_t n = 0;
        for (size_t i = 0; i < NKEYS && n < sizeof list; i++)
            if (!strcmp(keys[i].section, section))
                n += (size_t)snprintf(list + n, sizeof list - n, "%s%s", n ? ", " : "", keys[i].name);
        if (section_known)
            vkd_error_set(&ps->err, VKD_ERR_INVALID, "unknown key '%s' in [%s]; allowed: %s", name, section, list);
        else
            vkd_error_set(&ps->err, VKD_ERR_INVALID,
                          "unknown section [%s] (key '%s'); sections: run, prior, method, render, gaussians, nerf, "
                          "output",
                          section, name);
        ps->failed = true;
        return 0;
    }
    if (set_key(ps->sc, k, value, &ps->err)) {
        ps->failed = true;
        return 0;
    }
    return 1;
}

static vkd_status finish_parse(int rc, parse_state* ps, const char* name, vkd_error* err) {
    if (rc == -1) return vkd_error_set(err, VKD_ERR_IO, "%s: cannot open scene file: %s", name, strerror(errno));
    if (rc == -2) return vkd_error_set(err, VKD_ERR_OUT_OF_MEMORY, "%s: out of memory", name);
    if (rc > 0) {
        if (ps->failed) return vkd_error_set(err, VKD_ERR_INVALID, "%s:%d: %s", name, rc, ps->err.msg);
        return vkd_error_set(err, VKD_ERR_INVALID, "%s:%d: not an INI line (expected [section] or key = value)",
                             name, rc);
    }
    return VKD_OK;
}

vkd_status vkd_scene_load(vkd_scene* sc, const char* path, vkd_error* err) {
    parse_state ps = {.sc = sc};
    errno = 0;
    return finish_parse(ini_parse(path, scene_ini_handler, &ps), &ps, path, err);
}

vkd_status vkd_scene_load_string(vkd_scene* sc, const char* text, const char* name, vkd_error* err) {
    parse_state ps = {.sc = sc};
    return finish_parse(ini_parse_string(text, scene_ini_handler, &ps), &ps, name, err);
}

vkd_status vkd_scene_set(vkd_scene* sc, const char* key, const char* value, bool* known, vkd_error* err) {
    char section[32] = "";
    const char* name = key;
    const char* dot = strchr(key, '.');
    if (dot && (size_t)(dot - key) < sizeof section) {
        memcpy(section, key, (size_t)(dot - key));
        section[dot - key] = 0;
        name = dot + 1;
    }
    const scene_key* k = NULL;
    int matches = 0;
    for (size_t i = 0; i < NKEYS; i++) {
        if (strcmp(keys[i].name, name) || (section[0] && strcmp(keys[i].section, section))) continue;
        k = &keys[i];
        matches++;
    }
    *known = matches > 0;
    if (!matches) return VKD_OK;
    if (matches > 1)
        return vkd_error_set(err, VKD_ERR_INVALID, "--%s is ambiguous: write it as --<section>.%s", key, name);
    if (set_key(sc, k, value, err)) return vkd_error_prefix(err, "--%s: ", key);
    return VKD_OK;
}

vkd_status vkd_scene_validate(const vkd_scene* sc, vkd_error* err) {
    struct { const char* lo_name; float lo; const char* hi_name; float hi; } ranges[] = {
        {"prior.t_min", sc->t_min, "prior.t_max", sc->t_max},
        {"render.elevation_min", sc->elevation_min, "render.elevation_max", sc->elevation_max},
        {"render.azimuth_min", sc->azimuth_min, "render.azimuth_max", sc->azimuth_max},
        {"render.distance_min", sc->distance_min, "render.distance_max", sc->distance_max},
        {"render.fov_min", sc->fov_min, "render.fov_max", sc->fov_max},
    };
    for (size_t i = 0; i < sizeof ranges / sizeof ranges[0]; i++)
        if (ranges[i].lo > ranges[i].hi)
            return vkd_error_set(err, VKD_ERR_INVALID, "%s (%g) is larger than %s (%g)", ranges[i].lo_name,
                                 ranges[i].lo, ranges[i].hi_name, ranges[i].hi);
    if (sc->t_schedule[0] != 'u' && sc->t_anneal_max < sc->t_min)
        return vkd_error_set(err, VKD_ERR_INVALID, "prior.t_anneal_max (%g) is below prior.t_min (%g)",
                             sc->t_anneal_max, sc->t_min);
    if (sc->res_start && sc->res_start > sc->width)
        return vkd_error_set(err, VKD_ERR_INVALID, "render.res_start (%d) is larger than render.width (%d)",
                             sc->res_start, sc->width);
    if (!sc->prompt[0]) return vkd_error_set(err, VKD_ERR_INVALID, "run.prompt is empty: say what to generate");
    return VKD_OK;
}

static void write_value(FILE* f, const vkd_scene* sc, const scene_key* k) {
    const char* base = (const char*)sc + k->offset;
    switch (k->type) {
    case K_INT: fprintf(f, "%d", *(const int*)base); break;
    case K_FLOAT: fprintf(f, "%.9g", *(const float*)base); break;
    case K_STR:
    case K_ENUM: fprintf(f, "%s", base); break;
    case K_BOOL: fprintf(f, "%s", *(const bool*)base ? "true" : "false"); break;
    case K_RGB: {
        const float* c = (const float*)base;
        fprintf(f, "%.9g,%.9g,%.9g", c[0], c[1], c[2]);
    } break;
    }
}

void vkd_scene_print(const vkd_scene* sc, FILE* f) {
    const char* section = "";
    for (size_t i = 0; i < NKEYS; i++) {
        if (strcmp(section, keys[i].section)) {
            section = keys[i].section;
            fprintf(f, "%s[%s]\n", i ? "\n" : "", section);
        }
        fprintf(f, "%s = ", keys[i].name);
        write_value(f, sc, &keys[i]);
        fprintf(f, "\n");
    }
}

vkd_status vkd_scene_write(const vkd_scene* sc, const char* path, vkd_error* err) {
    char tmp[4200];
    snprintf(tmp, sizeof tmp, "%s.tmp", path);
    FILE* f = fopen(tmp, "w");
    if (!f) return vkd_error_set(err, VKD_ERR_IO, "%s: cannot write: %s", tmp, strerror(errno));
    fprintf(f, "; vkdream scene: the resolved settings of a run (vkdream generate --scene this-file)\n");
    vkd_scene_print(sc, f);
    bool bad = ferror(f) != 0;
    if (fclose(f) || bad || rename(tmp, path))
        return vkd_error_set(err, VKD_ERR_IO, "%s: write failed: %s", path, strerror(errno));
    return VKD_OK;
}

void vkd_scene_help(FILE* f) {
    vkd_scene d;
    vkd_scene_defaults(&d);
    const char* section = "";
    for (size_t i = 0; i < NKEYS; i++) {
        const scene_key* k = &keys[i];
        if (strcmp(section, k->section)) {
            section = k->section;
            fprintf(f, "\n  [%s]\n", section);
        }
        char flag[64];
        snprintf(flag, sizeof flag, "--%s", k->name);
        fprintf(f, "    %-22s %s (default: ", flag, k->help);
        write_value(f, &d, k);
        if (k->type == K_ENUM) fprintf(f, "; one of %s", k->allowed);
        fprintf(f, ")\n");
    }
}
