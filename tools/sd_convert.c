// sd_convert: a diffusers Stable Diffusion folder (unet/, vae/, text_encoder/ with
// config.json + safetensors) -> one original-format single-file .safetensors
// (model.diffusion_model.*, first_stage_model.*, cond_stage_model.*), using the same key
// maps vkdream's loader uses. Made for the check-prior --weights test; works for any
// SD1/SD2-style folder.
#include "vkdream/prior/sd_arch.h"
#include "vkdream/safetensors.h"

#include <stdio.h>
#include <string.h>

static void usage(FILE* f) {
    fprintf(f,
            "usage: sd_convert <diffusers folder> <out.safetensors> [options]\n"
            "\n"
            "Writes the folder's UNet, VAE and text encoder weights with original single-file names.\n"
            "\n"
            "options:\n"
            "  --text-layout hf|openclip  text encoder names: transformers (SD1, default) or OpenCLIP\n"
            "                             (SD2: cond_stage_model.model.*, q/k/v fused into in_proj)\n"
            "  --half                     store F16 instead of F32\n"
            "  --prediction epsilon|v     __metadata__ prediction_type (default: the folder's scheduler)\n");
}

int main(int argc, char** argv) {
    const char* in = NULL;
    const char* out = NULL;
    vkd_sd_write_desc d = {0};
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) {
            usage(stdout);
            return 0;
        } else if (!strcmp(argv[i], "--half")) {
            d.half = true;
        } else if (!strcmp(argv[i], "--text-layout") && i + 1 < argc) {
            const char* v = argv[++i];
            if (!strcmp(v, "hf")) d.text_layout = VKD_SD_TEXT_HF;
            else if (!strcmp(v, "openclip")) d.text_layout = VKD_SD_TEXT_OPENCLIP;
            else {
                fprintf(stderr, "sd_convert: --text-layout must be hf or openclip (got '%s')\n", v);
                return 2;
            }
        } else if (!strcmp(argv[i], "--prediction") && i + 1 < argc) {
            d.prediction = argv[++i];
        } else if (argv[i][0] == '-') {
            fprintf(stderr, "sd_convert: unknown option '%s'\n\n", argv[i]);
            usage(stderr);
            return 2;
        } else if (!in) {
            in = argv[i];
        } else if (!out) {
            out = argv[i];
        } else {
            usage(stderr);
            return 2;
        }
    }
    if (!in || !out) {
        usage(stderr);
        return 2;
    }
    vkd_error err = {0};
    if (vkd_sd_write_single_file(in, out, &d, &err)) {
        fprintf(stderr, "sd_convert: %s\n", err.msg);
        return 1;
    }
    vkd_safetensors* f = NULL;
    if (vkd_safetensors_open(out, &f, &err)) {
        fprintf(stderr, "sd_convert: reading back: %s\n", err.msg);
        return 1;
    }
    // Read back and infer the architecture: the file must load as a single file.
    vkd_sd_arch a;
    vkd_status st = vkd_sd_arch_infer(&a, f, VKD_SD_PREDICTION_EPSILON, &err);
    printf("%s: %zu tensors", out, vkd_safetensors_count(f));
    if (!st)
        printf(", SD%d layout, prediction %s", a.version == VKD_SD_VERSION_2 ? 2 : 1,
               vkd_sd_prediction_name(a.sched.prediction));
    printf("\n");
    vkd_safetensors_close(f);
    if (st) {
        fprintf(stderr, "sd_convert: the written file does not infer: %s\n", err.msg);
        return 1;
    }
    return 0;
}
