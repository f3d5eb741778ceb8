#include "vkdream/nn/timestep.h"
#include "nn/timestep.h"
#include "vkd_shaders.h"

#include <math.h>

void vkd_timestep_embedding_forward(vkd_stream* s, vkd_addr out, vkd_addr timesteps, uint32_t n, uint32_t dim,
                                    const vkd_timestep_desc* desc) {
    vkd_timestep_desc d = desc ? *desc : (vkd_timestep_desc){0};
    double period = d.max_period != 0 ? d.max_period : 10000.0;
    uint32_t half = dim / 2;
    double divisor = (double)half - d.downscale_freq_shift;
    if (!(period > 0) || !isfinite(period)) {
        vkd_stream_fail(s, VKD_ERR_INVALID, "timestep_embedding: max_period is %g; it must be positive", period);
        return;
    }
    if (half > 0 && !(divisor > 0)) {
        vkd_stream_fail(s, VKD_ERR_INVALID,
                        "timestep_embedding: dim / 2 - downscale_freq_shift = %u - %g must be positive (dim %u)", half,
                        (double)d.downscale_freq_shift, dim);
        return;
    }
    if ((uint64_t)n * dim >= ((uint64_t)1 << 32)) {
        vkd_stream_fail(s, VKD_ERR_INVALID, "timestep_embedding: n %u x dim %u exceeds the 32-bit index range", n, dim);
        return;
    }
    if (n == 0 || dim == 0) return;
    vkd_timestep_push p = {
        .dst = out,
        .t = timesteps,
        .n = n,
        .dim = dim,
        .half_dim = half,
        .flip = d.flip_sin_to_cos,
        // PyTorch turns the Python float -ln(P) into a float32 scalar before multiplying.
        .neg_log_period = (float)-log(period),
        .divisor = (float)divisor,
        .scale = d.scale != 0 ? d.scale : 1.0f,
    };
    vkd_stream_dispatch_1d(s, VKD_KERNEL(nn_timestep_fwd), &p, sizeof p, (uint64_t)n * dim, 256);
}
