#include "vkdream/base.h"

#include <stdio.h>
#include <string.h>

vkd_status vkd_error_set(vkd_error* err, vkd_status status, const char* fmt, ...) {
    if (err) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(err->msg, sizeof err->msg, fmt, ap);
        va_end(ap);
        err->status = status;
    }
    return status;
}

vkd_status vkd_error_prefix(vkd_error* err, const char* fmt, ...) {
    if (!err) return VKD_ERR_INVALID;
    char prefix[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(prefix, sizeof prefix, fmt, ap);
    va_end(ap);
    // Shift the old message right and put the prefix in front, truncating at the end.
    size_t plen = strlen(prefix), olen = strlen(err->msg);
    if (plen > sizeof err->msg - 1) plen = sizeof err->msg - 1;
    if (plen + olen > sizeof err->msg - 1) olen = sizeof err->msg - 1 - plen;
    memmove(err->msg + plen, err->msg, olen);
    memcpy(err->msg, prefix, plen);
    err->msg[plen + olen] = '\0';
    return err->status;
}

const char* vkd_status_name(vkd_status status) {
    switch (status) {
    case VKD_OK: return "ok";
    case VKD_ERR_INVALID: return "invalid input";
    case VKD_ERR_IO: return "i/o error";
    case VKD_ERR_NO_VULKAN: return "no usable Vulkan device";
    case VKD_ERR_OUT_OF_MEMORY: return "out of memory";
    case VKD_ERR_GPU: return "gpu error";
    case VKD_ERR_UNSUPPORTED: return "unsupported";
    }
    return "unknown";
}
