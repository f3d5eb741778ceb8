// `vkdream bench`: kernel benchmarks with a CPU reference timed in the same run.
#include "app/commands.h"

#include <stdio.h>

int vkd_cmd_bench(int argc, char** argv) {
    (void)argc;
    (void)argv;
    fprintf(stderr, "vkdream bench: no benchmarks are built into this binary yet\n");
    return 1;
}
