// Prompts file parsing for `vkdream batch`; see src/app/batch_prompts.h.
#define _POSIX_C_SOURCE 200809L
#include "app/batch_prompts.h"

#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

char* trim(char* s) {
    while (isspace((unsigned char)*s)) s++;
    char* e = s + strlen(s);
    while (e > s && isspace((unsigned char)e[-1])) *--e = 0;
    return s;
}

int parse_prompts_text(const char* text, const char* path, prompt_line** out, int* count, char* err, size_t errcap) {
    int cap = 16, n = 0, lineno = 0;
    prompt_line* v = malloc(sizeof *v * (size_t)cap);
    char buf[8192];
    const char* at = text;
    while (v && *at) {
        // One line (long lines are cut at the buffer size).
        size_t len = strcspn(at, "\n");
        size_t k = len < sizeof buf - 1 ? len : sizeof buf - 1;
        memcpy(buf, at, k);
        buf[k] = 0;
        at += len + (at[len] == '\n');
        lineno++;
        char* s = trim(buf);
        if (!*s || *s == '#') continue;
        if (n == cap) {
            prompt_line* nv = realloc(v, sizeof *v * (size_t)(cap *= 2));
            if (!nv) break;
            v = nv;
        }
        prompt_line* p = &v[n];
        memset(p, 0, sizeof *p);
        p->index = n, p->line = lineno;
        char* bar = strchr(s, '|');
        if (bar) *bar = 0;
        snprintf(p->prompt, sizeof p->prompt, "%s", trim(s));
        if (!p->prompt[0]) {
            snprintf(err, errcap, "%s:%d: empty prompt before '|'", path, lineno);
            goto fail;
        }
        for (char* tok = bar ? strtok(bar + 1, " \t") : NULL; tok; tok = strtok(NULL, " \t")) {
            char* eq = strchr(tok, '=');
            if (!eq || eq == tok || !eq[1]) {
                snprintf(err, errcap, "%s:%d: override '%s': expected key=value", path, lineno, tok);
                goto fail;
            }
            if (p->noverrides == MAX_OVERRIDES) {
                snprintf(err, errcap, "%s:%d: more than %d overrides", path, lineno, MAX_OVERRIDES);
                goto fail;
            }
            *eq = 0;
            // The key and value must be valid scene settings; check now, not in the child.
            vkd_scene sc;
            vkd_scene_defaults(&sc);
            bool known = false;
            vkd_error e = {0};
            if (vkd_scene_set(&sc, tok, eq + 1, &known, &e) || !known) {
                if (known)
                    snprintf(err, errcap, "%s:%d: %.600s", path, lineno, e.msg);
                else
                    snprintf(err, errcap, "%s:%d: unknown scene key '%.64s' (see vkdream generate --help)", path,
                             lineno, tok);
                goto fail;
            }
            snprintf(p->keys[p->noverrides], sizeof p->keys[0], "%s", tok);
            snprintf(p->values[p->noverrides], sizeof p->values[0], "%s", eq + 1);
            p->noverrides++;
        }
        n++;
    }
    *out = v;
    *count = n;
    return 0;
fail:
    free(v);
    return -1;
}

int parse_prompts(const char* path, prompt_line** out, int* count, char* err, size_t errcap) {
    FILE* f = fopen(path, "rb");
    if (!f) {
        snprintf(err, errcap, "%s: cannot open: %s", path, strerror(errno));
        return -1;
    }
    size_t cap = 65536, n = 0;
    char* text = malloc(cap);
    for (size_t r; text && (r = fread(text + n, 1, cap - n - 1, f)) > 0;) {
        n += r;
        if (n + 1 == cap) {
            char* t = realloc(text, cap *= 2);
            if (!t) {
                free(text);
                text = NULL;
            }
            text = t;
        }
    }
    fclose(f);
    if (!text) {
        snprintf(err, errcap, "%s: out of memory", path);
        return -1;
    }
    text[n] = 0;
    int rc = parse_prompts_text(text, path, out, count, err, errcap);
    free(text);
    return rc;
}

