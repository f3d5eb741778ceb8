// `vkdream info`: which device runs vkdream, the limits that matter, and a self-check.
#include "app/commands.h"
#include "vkdream/gpu.h"

#include <stdio.h>
#include <string.h>

static void help(void) {
    printf("usage: vkdream info [--list] [--device <index|name>]\n\n"
           "Prints the Vulkan device vkdream would use, its driver and the limits that\n"
           "matter (memory, subgroup size, fp16, float atomics), then runs a self-check kernel.\n\n"
           "  --list            list every Vulkan device and whether vkdream can use it\n"
           "  --device <d>      pick a device by index or name substring (also $VKD_DEVICE)\n");
}

int vkd_cmd_info(int argc, char** argv) {
    const char* device = NULL;
    bool list = false;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) {
            help();
            return 0;
        } else if (!strcmp(argv[i], "--list")) {
            list = true;
        } else if (!strcmp(argv[i], "--device") && i + 1 < argc) {
            device = argv[++i];
        } else {
            fprintf(stderr, "vkdream info: unknown option '%s' (see --help)\n", argv[i]);
            return 2;
        }
    }
    vkd_error err = {0};
    if (list) {
        printf("Vulkan devices:\n");
        if (vkd_gpu_list_devices(stdout, &err)) {
            fprintf(stderr, "vkdream info: %s\n", err.msg);
            return 1;
        }
        return 0;
    }
    vkd_gpu* gpu = NULL;
    if (vkd_gpu_create(&(vkd_gpu_desc){.device = device}, &gpu, &err)) {
        fprintf(stderr, "vkdream info: %s\n", err.msg);
        return 1;
    }
    const vkd_gpu_info* in = vkd_gpu_get_info(gpu);
    printf("device        [%u] %s (%s)\n", in->index, in->name, vkd_device_kind_name(in->kind));
    printf("driver        %s\n", in->driver);
    printf("vulkan        %u.%u.%u\n", in->api_version >> 22, (in->api_version >> 12) & 0x3ff, in->api_version & 0xfff);
    printf("memory        %.1f GiB device-local (budget %.1f GiB)%s\n", in->device_local_bytes / 1073741824.0,
           in->budget_bytes / 1073741824.0, in->host_visible_device_memory ? ", host-visible" : "");
    printf("max alloc     %.1f GiB\n", in->max_allocation_bytes / 1073741824.0);
    printf("subgroup      %u\n", in->subgroup_size);
    printf("shared mem    %u KiB per workgroup\n", in->max_shared_memory / 1024);
    printf("workgroup     %u invocations, grid %u x %u x %u\n", in->max_workgroup_invocations,
           in->max_workgroup_count[0], in->max_workgroup_count[1], in->max_workgroup_count[2]);
    printf("fp16          %s\n", in->fp16 ? "yes (shaderFloat16 + 16-bit storage)" : "no");
    printf("float atomics %s\n", in->float_atomics ? "yes" : "no (gradient scatter falls back to CAS loops)");
    printf("validation    %s\n", in->validation ? "on" : "off");
    uint32_t sg = 0;
    int rc = 0;
    if (vkd_gpu_selfcheck(gpu, &sg, &err)) {
        fprintf(stderr, "self-check    FAILED: %s\n", err.msg);
        rc = 1;
    } else {
        printf("self-check    ok (kernel saw subgroup size %u)\n", sg);
    }
    if (vkd_gpu_validation_messages(gpu)) {
        fprintf(stderr, "validation    %u messages\n", vkd_gpu_validation_messages(gpu));
        rc = 1;
    }
    vkd_gpu_destroy(gpu);
    return rc;
}
