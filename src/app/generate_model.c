// The priors `generate` opens by path: the built-in model and Stable Diffusion checkpoints.
#define _POSIX_C_SOURCE 200809L
#include "app/generate.h"

#include <libgen.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#if defined(__has_include)
#if __has_include("vkdream/prior/sd_prior.h")
#include "vkdream/prior/sd_prior.h"
#define VKD_HAVE_SD_PRIOR 1
#endif
#endif

static bool is_dir(const char* p) {
    struct stat st;
    return !stat(p, &st) && S_ISDIR(st.st_mode);
}

bool vkd_builtin_prior_path(char* path, size_t cap) {
    const char* env = getenv("VKD_ASSETS");
    if (env && *env) {
        snprintf(path, cap, "%s/builtin", env);
        if (is_dir(path)) return true;
    }
    char exe[PATH_MAX];
    ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 1);
    if (n > 0) {
        exe[n] = 0;
        // build/vkdream -> <repo>/assets/builtin; an installed bin/vkdream -> ../share/vkdream/builtin.
        snprintf(path, cap, "%s/../assets/builtin", dirname(exe));
        if (is_dir(path)) return true;
    }
#ifdef VKD_SOURCE_DIR
    snprintf(path, cap, "%s/assets/builtin", VKD_SOURCE_DIR);
    if (is_dir(path)) return true;
#endif
    return false;
}

vkd_status vkd_generate_open_model(vkd_gpu* gpu, const vkd_scene* sc, vkd_prior** out, vkd_error* err) {
    char path[4096];
    const char* model = sc->model;
    if (!strcmp(model, "builtin")) {
        if (!vkd_builtin_prior_path(path, sizeof path))
            return vkd_error_set(err, VKD_ERR_IO,
                                 "the built-in prior was not found (looked for assets/builtin beside the binary and "
                                 "in $VKD_ASSETS; last tried %s). Use --model shapes (a reference-set prior of "
                                 "procedural objects, prompts like \"a red cube\") or --model <Stable Diffusion "
                                 "folder or .safetensors>",
                                 path);
        model = path;
    }
#ifdef VKD_HAVE_SD_PRIOR
    // fp16 weights where the device runs them well; llvmpipe has no fp16 hardware to gain from.
    bool f16 = !strcmp(sc->precision, "f16") ||
               (!strcmp(sc->precision, "auto") && vkd_gpu_get_info(gpu)->kind != VKD_DEVICE_CPU);
    return vkd_sd_prior_create(gpu, model, &(vkd_sd_prior_desc){.tokenizer_dir = sc->tokenizer[0] ? sc->tokenizer : NULL,
                                                                .prediction = strcmp(sc->prediction, "auto") ? sc->prediction : NULL,
                                                                .pixel = !sc->latent, .f16 = f16},
                               out, err);
#else
    (void)gpu, (void)out;
    return vkd_error_set(err, VKD_ERR_UNSUPPORTED,
                         "%s: this build has no Stable Diffusion prior (the UNet module is not compiled in); "
                         "use --model shapes",
                         model);
#endif
}
