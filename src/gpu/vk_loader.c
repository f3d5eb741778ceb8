#define _POSIX_C_SOURCE 200809L
#include "vk.h"

#include <dlfcn.h>
#include <pthread.h>
#include <stdio.h>

#define VKD_VK_DEFINE(name) PFN_##name name;
VKD_VK_FUNCTIONS(VKD_VK_DEFINE)
VKD_VK_PRESENT_FUNCTIONS(VKD_VK_DEFINE)
#undef VKD_VK_DEFINE

static pthread_once_t once = PTHREAD_ONCE_INIT;
static char load_error[512];
static bool present_loaded;

static void load(void) {
    const char* names[] = {"libvulkan.so.1", "libvulkan.so", "libvulkan.1.dylib", "libMoltenVK.dylib"};
    void* lib = NULL;
    for (size_t i = 0; i < sizeof names / sizeof names[0] && !lib; i++) lib = dlopen(names[i], RTLD_NOW | RTLD_LOCAL);
    if (!lib) {
        snprintf(load_error, sizeof load_error,
                 "the Vulkan loader (libvulkan.so.1) is not installed: install it and a driver "
                 "(Debian: apt-get install libvulkan1 mesa-vulkan-drivers)");
        return;
    }
    // POSIX guarantees dlsym's void* converts to a function pointer; C11 alone does not.
#define VKD_VK_LOAD(name)                                                                              \
    *(void**)&name = dlsym(lib, #name);                                                                \
    if (!name) {                                                                                       \
        snprintf(load_error, sizeof load_error,                                                        \
                 "the Vulkan loader has no %s: it is older than Vulkan 1.2 (install a current libvulkan1)", \
                 #name);                                                                               \
        return;                                                                                        \
    }
    VKD_VK_FUNCTIONS(VKD_VK_LOAD)
#undef VKD_VK_LOAD
    present_loaded = true;
#define VKD_VK_LOAD_OPTIONAL(name) \
    *(void**)&name = dlsym(lib, #name); \
    present_loaded = present_loaded && name;
    VKD_VK_PRESENT_FUNCTIONS(VKD_VK_LOAD_OPTIONAL)
#undef VKD_VK_LOAD_OPTIONAL
}

vkd_status vkd_vk_load(vkd_error* err) {
    pthread_once(&once, load);
    if (load_error[0]) return vkd_error_set(err, VKD_ERR_NO_VULKAN, "%s", load_error);
    return VKD_OK;
}

bool vkd_vk_present_loaded(void) {
    pthread_once(&once, load);
    return !load_error[0] && present_loaded;
}
