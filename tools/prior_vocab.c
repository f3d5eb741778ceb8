// Writes the built-in prior's tokenizer: a CLIP-format byte-level BPE vocabulary
// (vocab.json + merges.txt + tokenizer_config.json) whose merges spell every caption word
// of the procedural dataset as one token (vkd_builtin_write_vocab). Any other text still
// tokenizes (down to bytes). train_prior writes the same files when its model folder has none.
//
//   prior_vocab OUT_DIR        (assets/builtin/tokenizer in the shipped model)
#include "vkdream/prior/builtin.h"

#include <stdio.h>
#include <string.h>

int main(int argc, char** argv) {
    if (argc != 2 || !strcmp(argv[1], "--help") || !strcmp(argv[1], "-h")) {
        fprintf(argc == 2 ? stdout : stderr,
                "usage: prior_vocab OUT_DIR\n"
                "Writes the built-in prior's caption vocabulary (vocab.json, merges.txt,\n"
                "tokenizer_config.json) into OUT_DIR (created if missing).\n");
        return argc == 2 ? 0 : 2;
    }
    vkd_error err = {0};
    int ntok = 0;
    if (vkd_builtin_write_vocab(argv[1], &ntok, &err)) {
        fprintf(stderr, "prior_vocab: %s\n", err.msg);
        return 1;
    }
    printf("prior_vocab: %d tokens -> %s\n", ntok, argv[1]);
    return 0;
}
