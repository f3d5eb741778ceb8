// Build-time tool: turns a SPIR-V binary into a C source with the words as a const array,
// so the engine carries its kernels and needs no shader files at run time.
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

int main(int argc, char** argv) {
    if (argc != 4) {
        fprintf(stderr, "usage: vkd_spv2c <in.spv> <symbol> <out.c>\n");
        return 2;
    }
    FILE* in = fopen(argv[1], "rb");
    if (!in) {
        fprintf(stderr, "vkd_spv2c: cannot open %s\n", argv[1]);
        return 1;
    }
    fseek(in, 0, SEEK_END);
    long size = ftell(in);
    fseek(in, 0, SEEK_SET);
    if (size <= 0 || size % 4 != 0) {
        fprintf(stderr, "vkd_spv2c: %s is %ld bytes, expected a non-empty multiple of 4\n", argv[1], size);
        return 1;
    }
    uint32_t* words = malloc((size_t)size);
    if (!words || fread(words, 1, (size_t)size, in) != (size_t)size) {
        fprintf(stderr, "vkd_spv2c: cannot read %s\n", argv[1]);
        return 1;
    }
    fclose(in);
    if (words[0] != 0x07230203u) {
        fprintf(stderr, "vkd_spv2c: %s is not SPIR-V (magic %08x)\n", argv[1], words[0]);
        return 1;
    }
    FILE* out = fopen(argv[3], "w");
    if (!out) {
        fprintf(stderr, "vkd_spv2c: cannot write %s\n", argv[3]);
        return 1;
    }
    fprintf(out, "// Generated from %s by vkd_spv2c.\n#include <stddef.h>\n#include <stdint.h>\n", argv[1]);
    fprintf(out, "const size_t %s_size = %ld;\nconst uint32_t %s[] = {", argv[2], size, argv[2]);
    size_t n = (size_t)size / 4;
    for (size_t i = 0; i < n; i++) fprintf(out, "%s0x%08x,", i % 8 ? " " : "\n    ", words[i]);
    fprintf(out, "\n};\n");
    free(words);
    return fclose(out) == 0 ? 0 : 1;
}
