// vkdream: text-to-3D with Vulkan compute. Dispatches to the subcommands.
#include "app/commands.h"

#include <stdio.h>
#include <string.h>

typedef struct command {
    const char* name;
    int (*run)(int argc, char** argv);
    const char* summary;
} command;

static const command commands[] = {
    {"info", vkd_cmd_info, "show the Vulkan device, its limits, and run a self-check kernel"},
    {"generate", vkd_cmd_generate, "prompt in, 3D asset out: optimize Gaussians or a NeRF by score distillation"},
    {"batch", vkd_cmd_batch, "many prompts: one asset each, restartable, sharded across workers"},
    {"export", vkd_cmd_export, "mesh an asset (3DGS .ply or checkpoint) as OBJ, PLY or GLB"},
    {"bench", vkd_cmd_bench, "benchmark kernels (ops: matmul, conv2d, attention) against the CPU"},
    {"check-prior", vkd_cmd_check_prior, "check the Stable Diffusion prior against golden reference cases"},
    {"view", vkd_cmd_view, "open a 3DGS .ply or a mesh (.obj, .ply, .glb) in the viewer window"},
};

static void usage(FILE* f) {
    fprintf(f, "usage: vkdream <command> [options]\n\ncommands:\n");
    for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++)
        fprintf(f, "  %-10s %s\n", commands[i].name, commands[i].summary);
    fprintf(f,
            "\n`vkdream <command> --help` describes a command.\n"
            "\nenvironment:\n"
            "  VKD_DEVICE=<index|name>  pick a Vulkan device (see `vkdream info --list`)\n"
            "  VKD_VALIDATION=1         enable the Khronos validation layer\n"
            "  VKD_PROFILE=1            print a per-kernel GPU time table at exit\n");
}

int main(int argc, char** argv) {
    if (argc < 2 || !strcmp(argv[1], "--help") || !strcmp(argv[1], "-h") || !strcmp(argv[1], "help")) {
        usage(stdout);
        return argc < 2 ? 2 : 0;
    }
    if (!strcmp(argv[1], "--version")) {
        printf("vkdream 0.1.0\n");
        return 0;
    }
    for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++)
        if (!strcmp(argv[1], commands[i].name)) return commands[i].run(argc - 1, argv + 1);
    fprintf(stderr, "vkdream: unknown command '%s'\n\n", argv[1]);
    usage(stderr);
    return 2;
}
