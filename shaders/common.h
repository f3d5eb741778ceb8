// Shared by C and GLSL: push-constant structs are declared once with these macros
// and included from both sides, so the layouts cannot drift apart. Use only
// scalar members (uint64_t addresses first, then int32_t / uint32_t / float):
// natural C alignment then equals GLSL std430.
#ifndef VKD_SHADERS_COMMON_H
#define VKD_SHADERS_COMMON_H

#ifdef VULKAN  // GLSL
#define VKD_PUSH_BEGIN(name) struct name {
#define VKD_PUSH_END(name) };
#else  // C
#include <assert.h>
#include <stdint.h>
#define VKD_PUSH_BEGIN(name) typedef struct name {
#define VKD_PUSH_END(name) \
    } name;                \
    static_assert(sizeof(name) <= 128, #name " is larger than the 128 bytes of push constants Vulkan guarantees");
#endif

#endif
