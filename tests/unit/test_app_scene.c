// Scene files: defaults, INI parsing, errors that name the line/key/allowed values, flag
// overrides, and a write -> read round trip that reproduces every setting.
#define _POSIX_C_SOURCE 200809L
#include "app/scene.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <dirent.h>
#include <unistd.h>

#include "unit/check.h"

// Parses text over defaults and expects an error whose message contains every needle.
static void expect_error(const char* text, const char* needle1, const char* needle2) {
    vkd_scene sc;
    vkd_scene_defaults(&sc);
    vkd_error err = {0};
    vkd_status st = vkd_scene_load_string(&sc, text, "t.ini", &err);
    CHECK(st == VKD_ERR_INVALID, "expected an error for: %s", text);
    CHECK(strstr(err.msg, needle1) != NULL, "message '%s' lacks '%s'", err.msg, needle1);
    if (needle2) CHECK(strstr(err.msg, needle2) != NULL, "message '%s' lacks '%s'", err.msg, needle2);
}

int main(void) {
    vkd_scene sc;
    vkd_error err = {0};
    vkd_scene_defaults(&sc);
    CHECK(!strcmp(sc.method, "sds") && !strcmp(sc.repr, "gaussians") && sc.steps > 0, "defaults");

    const char* text =
        "; comment\n[run]\nprompt = a ripe strawberry\nmethod = bsd\nsteps = 1234\n"
        "[render]\nwidth = 128\nbackground = 0.5, 0.25,1\n[prior]\nview_dependent = no\nt_max = 0.75\n";
    CHECK(vkd_scene_load_string(&sc, text, "t.ini", &err) == VKD_OK, "parse: %s", err.msg);
    CHECK(!strcmp(sc.prompt, "a ripe strawberry"), "prompt '%s'", sc.prompt);
    CHECK(!strcmp(sc.method, "bsd") && sc.steps == 1234 && sc.width == 128, "values");
    CHECK(sc.background[0] == 0.5f && sc.background[1] == 0.25f && sc.background[2] == 1.0f, "rgb");
    CHECK(!sc.view_dependent && sc.t_max == 0.75f, "bool/float");
    CHECK(vkd_scene_validate(&sc, &err) == VKD_OK, "validate: %s", err.msg);

    // Errors name the file and line, the key, and what is allowed.
    expect_error("[run]\nmethod = dds\n", "t.ini:2", "sds|vsd|bsd|asd");
    expect_error("[run]\n\nsteps = -3\n", "t.ini:3", "run.steps");
    expect_error("[run]\nsteps = 12x\n", "expected an integer", NULL);
    expect_error("[render]\nwidht = 64\n", "unknown key 'widht'", "width");
    expect_error("[rendr]\nwidth = 64\n", "unknown section [rendr]", NULL);
    expect_error("[render]\nbackground = 1,2\n", "render.background", "r,g,b");
    expect_error("[prior]\nlatent = maybe\n", "prior.latent", "true or false");
    expect_error("[run]\nthis line has no equals\n", "t.ini:2", "INI");

    // Cross-key rules.
    vkd_scene v = sc;
    v.t_min = 0.9f;
    CHECK(vkd_scene_validate(&v, &err) == VKD_ERR_INVALID && strstr(err.msg, "prior.t_min"), "%s", err.msg);
    v = sc;
    v.prompt[0] = 0;
    CHECK(vkd_scene_validate(&v, &err) == VKD_ERR_INVALID && strstr(err.msg, "prompt"), "%s", err.msg);

    // Flag overrides: plain and section-qualified keys; unknown keys are reported as unknown.
    bool known = false;
    CHECK(vkd_scene_set(&sc, "steps", "77", &known, &err) == VKD_OK && known && sc.steps == 77, "--steps");
    CHECK(vkd_scene_set(&sc, "render.height", "96", &known, &err) == VKD_OK && known && sc.height == 96, "--render.height");
    CHECK(vkd_scene_set(&sc, "nonsense", "1", &known, &err) == VKD_OK && !known, "unknown flag");
    CHECK(vkd_scene_set(&sc, "repr", "mesh", &known, &err) == VKD_ERR_INVALID && strstr(err.msg, "gaussians|nerf"),
          "%s", err.msg);

    // Round trip: write the resolved scene, read it over fresh defaults, compare every field.
    char path[] = "/tmp/vkd_scene_XXXXXX";
    int fd = mkstemp(path);
    CHECK(fd >= 0, "mkstemp");
    close(fd);
    sc.gs_lr_position = 1.2345678e-4f;
    CHECK(vkd_scene_write(&sc, path, &err) == VKD_OK, "write: %s", err.msg);
    vkd_scene back;
    vkd_scene_defaults(&back);
    CHECK(vkd_scene_load(&back, path, &err) == VKD_OK, "reload: %s", err.msg);
    CHECK(!memcmp(&back.prompt, &sc.prompt, sizeof sc.prompt) && back.steps == sc.steps &&
              back.gs_lr_position == sc.gs_lr_position && back.height == sc.height &&
              back.view_dependent == sc.view_dependent && back.background[1] == sc.background[1],
          "round trip differs");
    unlink(path);
    CHECK(vkd_scene_load(&back, "/nonexistent/x.ini", &err) == VKD_ERR_IO && strstr(err.msg, "/nonexistent/x.ini"),
          "missing file: %s", err.msg);

    // Every shipped scene parses and validates (given a prompt).
    char dir[1024];
    snprintf(dir, sizeof dir, "%s/scenes", VKD_SOURCE_DIR);
    DIR* d = opendir(dir);
    CHECK(d != NULL, "cannot open %s", dir);
    int scenes = 0;
    for (struct dirent* e; d && (e = readdir(d));) {
        size_t n = strlen(e->d_name);
        if (n < 5 || strcmp(e->d_name + n - 4, ".ini")) continue;
        char file[2048];
        snprintf(file, sizeof file, "%s/%s", dir, e->d_name);
        vkd_scene_defaults(&back);
        snprintf(back.prompt, sizeof back.prompt, "a red cube");
        CHECK(vkd_scene_load(&back, file, &err) == VKD_OK && vkd_scene_validate(&back, &err) == VKD_OK, "%s: %s",
              file, err.msg);
        scenes++;
    }
    if (d) closedir(d);
    CHECK(scenes >= 5, "only %d scenes in %s", scenes, dir);

    printf("scene: %d checks, %d failed\n", checks, failures);
    return failures ? 1 : 0;
}
