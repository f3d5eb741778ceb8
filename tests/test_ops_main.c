// test_ops: every op's GPU kernels against float64 C references and finite
// differences, with the Khronos validation layer on. `test_ops [group ...]`.
#include "harness.h"
#include "test_ops_groups.h"  // generated: TEST_GROUPS(X) lists tests/ops/test_<group>.c

#include <stdlib.h>
#include <string.h>

#define DECLARE(name) void test_##name(tu_ctx* t);
TEST_GROUPS(DECLARE)
#undef DECLARE

typedef struct group {
    const char* name;
    void (*run)(tu_ctx* t);
} group;

#define ENTRY(name) {#name, test_##name},
static const group groups[] = {TEST_GROUPS(ENTRY)};
#undef ENTRY

int main(int argc, char** argv) {
    const char* v = getenv("VKD_TEST_VERBOSE");
    const char* q = getenv("VKD_TEST_QUICK");
    tu_ctx t = {.verbose = v && *v && strcmp(v, "0"), .quick = q && *q && strcmp(q, "0")};
    vkd_error err = {0};
    // Tests always run under the validation layer; a message is a failure.
    if (vkd_gpu_create(&(vkd_gpu_desc){.require_validation = true}, &t.gpu, &err)) {
        fprintf(stderr, "test_ops: %s\n", err.msg);
        printf("0 passed, 1 failed\n");
        return 1;
    }
    if (vkd_stream_create(t.gpu, &t.s, &err)) {
        fprintf(stderr, "test_ops: %s\n", err.msg);
        return 1;
    }
    printf("test_ops on %s\n", vkd_gpu_get_info(t.gpu)->name);
    int ran = 0;
    for (size_t g = 0; g < sizeof groups / sizeof groups[0]; g++) {
        bool wanted = argc < 2;
        for (int a = 1; a < argc; a++) wanted |= !strcmp(argv[a], groups[g].name);
        if (!wanted) continue;
        ran++;
        t.group = groups[g].name;
        int before_fail = t.failed, before_pass = t.passed;
        uint32_t before_msgs = vkd_gpu_validation_messages(t.gpu);
        groups[g].run(&t);
        tu_case(&t, "end of group");
        tu_check_guards(&t);
        uint32_t msgs = vkd_gpu_validation_messages(t.gpu) - before_msgs;
        tu_check(&t, msgs == 0, "validation layer messages: %u", msgs);
        printf("%-14s %4d passed, %d failed\n", groups[g].name, t.passed - before_pass, t.failed - before_fail);
    }
    if (!ran) {
        fprintf(stderr, "test_ops: no group matches; groups are:");
        for (size_t g = 0; g < sizeof groups / sizeof groups[0]; g++) fprintf(stderr, " %s", groups[g].name);
        fprintf(stderr, "\n");
        return 2;
    }
    vkd_stream_destroy(t.s);
    vkd_gpu_destroy(t.gpu);
    printf("%d passed, %d failed\n", t.passed, t.failed);
    return t.failed ? 1 : 0;
}
