// vkdream base: status codes and the error message that every fallible call fills.
#ifndef VKDREAM_BASE_H
#define VKDREAM_BASE_H

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdbool.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef enum vkd_status {
    VKD_OK = 0,
    VKD_ERR_INVALID,      // bad argument or malformed input (file, key, shape)
    VKD_ERR_IO,           // file could not be opened, read or written
    VKD_ERR_NO_VULKAN,    // no Vulkan loader, no device, missing feature
    VKD_ERR_OUT_OF_MEMORY,// host or device memory exhausted
    VKD_ERR_GPU,          // a Vulkan call failed (pipeline, submit, device lost)
    VKD_ERR_UNSUPPORTED,  // valid input that this build cannot handle (dtype, layout)
} vkd_status;

// The message says what failed and what to do about it. Callers may pass NULL
// when they do not care; vkd_error_set then only returns the status.
typedef struct vkd_error {
    vkd_status status;
    char msg[1024];
} vkd_error;

#if defined(__GNUC__)
#define VKD_PRINTF(a, b) __attribute__((format(printf, a, b)))
#else
#define VKD_PRINTF(a, b)
#endif

// Fills err (if not NULL) and returns status, so a failure reads `return vkd_error_set(...)`.
vkd_status vkd_error_set(vkd_error* err, vkd_status status, const char* fmt, ...) VKD_PRINTF(3, 4);
// Prepends context ("loading unet: ") to an existing message; returns err's status.
vkd_status vkd_error_prefix(vkd_error* err, const char* fmt, ...) VKD_PRINTF(2, 3);
const char* vkd_status_name(vkd_status status);

#ifdef __cplusplus
}
#endif
#endif
