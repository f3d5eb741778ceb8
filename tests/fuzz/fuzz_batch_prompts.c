// libFuzzer harness: arbitrary bytes as a batch prompts file must parse or fail with a
// message naming a line, never crash; parsed prompts are non-empty with valid overrides.
#include "app/batch_prompts.h"

#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    char* text = malloc(size + 1);
    if (!text) return 0;
    memcpy(text, data, size);
    text[size] = 0;
    prompt_line* v = NULL;
    int n = 0;
    char err[1024] = "";
    if (parse_prompts_text(text, "fuzz.txt", &v, &n, err, sizeof err) == 0) {
        for (int i = 0; i < n; i++)
            if (!v[i].prompt[0] || v[i].noverrides > MAX_OVERRIDES) abort();
        free(v);
    } else if (strncmp(err, "fuzz.txt", 8)) {
        abort();  // every failure names the file
    }
    free(text);
    return 0;
}
