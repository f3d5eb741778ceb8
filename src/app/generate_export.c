// Mesh export at the end of `generate` (output.export_mesh).
#include "app/generate.h"

#include <stdio.h>
#include <string.h>

#if defined(__has_include)
#if __has_include("vkdream/export.h")
#include "vkdream/export.h"
#define VKD_HAVE_EXPORT 1
#endif
#endif

vkd_status vkd_generate_export_mesh(vkd_gpu* gpu, vkd_stream* s, const vkd_scene* sc, vkd_repr* repr,
                                    const char* out_dir, vkd_error* err) {
    if (!sc->export_mesh) return VKD_OK;
#ifdef VKD_HAVE_EXPORT
    vkd_status st = vkd_export_repr_mesh(gpu, s, repr, sc->mesh_format, out_dir,
                                           &(vkd_export_desc){.faces = (uint32_t)sc->mesh_faces}, err);
    if (st == VKD_ERR_INVALID) {
        // An empty density is a property of the result, not a failure of the run.
        fprintf(stderr, "vkdream generate: no mesh written: %s\n", err->msg);
        return VKD_OK;
    }
    return st;
#else
    (void)gpu, (void)s, (void)repr, (void)err;
    fprintf(stderr, "vkdream generate: mesh export is not compiled into this build; the asset is in %s/\n", out_dir);
    return VKD_OK;
#endif
}
