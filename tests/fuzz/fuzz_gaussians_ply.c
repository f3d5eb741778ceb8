// libFuzzer target for the 3DGS .ply reader (src/field/gaussians_ply.c): any bytes must give
// either a valid host copy or an error, never a crash, leak or undefined behaviour. The
// reader takes a path, so each input goes through a temporary file.
#define _POSIX_C_SOURCE 200809L
#include "vkdream/gaussians.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    static char path[64];
    if (!path[0]) snprintf(path, sizeof path, "/tmp/fuzz_gaussians_ply_%ld.ply", (long)getpid());
    FILE* f = fopen(path, "wb");
    if (!f) return 0;
    if (size) fwrite(data, 1, size, f);
    fclose(f);
    vkd_gaussians_host h;
    vkd_error err = {0};
    if (vkd_gaussians_ply_read(path, &h, &err) == VKD_OK) {
        // Touch every value so ASan sees any out-of-bounds view.
        volatile float acc = 0;
        size_t n = (size_t)h.count * vkd_gaussians_row_floats(h.sh_degree);
        for (size_t i = 0; i < n; i++) acc += h.data[i];
        if (h.count) acc += h.means[0] + h.sh[0] + h.quats[0] + h.opacity_logits[h.count - 1];
        (void)acc;
        vkd_gaussians_host_free(&h);
    } else if (err.status != VKD_ERR_OUT_OF_MEMORY && !strstr(err.msg, path)) {
        abort();  // every error names the file
    }
    return 0;
}
