// The prompts file of `vkdream batch`: one prompt per line, optionally followed by `|` and
// key=value scene overrides; blank lines and lines starting with `#` are skipped.
#ifndef VKD_APP_BATCH_PROMPTS_H
#define VKD_APP_BATCH_PROMPTS_H

#include "app/scene.h"

#define MAX_OVERRIDES 32

typedef struct prompt_line {
    int index;                         // among prompt lines
    int line;                          // in the file
    char prompt[VKD_SCENE_STR];
    char keys[MAX_OVERRIDES][64];
    char values[MAX_OVERRIDES][VKD_SCENE_STR];
    int noverrides;
} prompt_line;

// Parses path into a malloc'ed array (*out, *count). On failure returns -1 with a message
// naming file:line in err. Every override must be a known scene key with a valid value.
int parse_prompts(const char* path, prompt_line** out, int* count, char* err, size_t errcap);
// Same over text in memory (name is used in messages).
int parse_prompts_text(const char* text, const char* name, prompt_line** out, int* count, char* err, size_t errcap);
// Whitespace-trimmed view of s (in place).
char* trim(char* s);

#endif
