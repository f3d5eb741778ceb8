// libFuzzer harness: arbitrary bytes as a scene file must parse or fail with a message,
// never crash, and a parsed scene must survive validation and printing.
#include "app/scene.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    char* text = malloc(size + 1);
    if (!text) return 0;
    memcpy(text, data, size);
    text[size] = 0;  // inih reads C strings; embedded NULs just end the text early
    vkd_scene sc;
    vkd_scene_defaults(&sc);
    vkd_error err = {0};
    if (vkd_scene_load_string(&sc, text, "fuzz.ini", &err) == VKD_OK) {
        vkd_scene_validate(&sc, &err);
        FILE* f = fopen("/dev/null", "w");
        if (f) {
            vkd_scene_print(&sc, f);
            fclose(f);
        }
    } else if (!err.msg[0]) {
        abort();  // every failure must say why
    }
    free(text);
    return 0;
}
