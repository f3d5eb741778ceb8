// Timestep schedules of score distillation (include/vkdream/guidance.h).
#include "vkdream/guidance.h"

#include <math.h>

typedef struct sched {
    double t_min, t_max, t_max_end;
    uint32_t T;
} sched;

static sched resolve(const vkd_tsched_desc* d) {
    return (sched){.t_min = d->t_min != 0 ? d->t_min : 0.02,
                   .t_max = d->t_max != 0 ? d->t_max : 0.98,
                   .t_max_end = d->t_max_end != 0 ? d->t_max_end : 0.5,
                   .T = d->num_timesteps ? d->num_timesteps : 1000};
}

vkd_status vkd_tsched_validate(const vkd_tsched_desc* d, vkd_error* err) {
    sched s = resolve(d);
    if ((unsigned)d->kind > VKD_TSCHED_SQRT)
        return vkd_error_set(err, VKD_ERR_INVALID, "t schedule: unknown kind %d; expected uniform, step, linear or sqrt",
                             (int)d->kind);
    if (!(s.t_min >= 0 && s.t_min <= s.t_max && s.t_max <= 1))
        return vkd_error_set(err, VKD_ERR_INVALID, "t schedule: need 0 <= t_min (%g) <= t_max (%g) <= 1", s.t_min,
                             s.t_max);
    if ((d->kind == VKD_TSCHED_STEP || d->kind == VKD_TSCHED_LINEAR) && !(s.t_max_end >= s.t_min && s.t_max_end <= 1))
        return vkd_error_set(err, VKD_ERR_INVALID, "t schedule: need t_min (%g) <= t_max_end (%g) <= 1", s.t_min,
                             s.t_max_end);
    if (s.T < 2 || s.T > VKD_PRIOR_MAX_TIMESTEPS)
        return vkd_error_set(err, VKD_ERR_INVALID, "t schedule: %u timesteps; expected 2..%d", s.T,
                             VKD_PRIOR_MAX_TIMESTEPS);
    return VKD_OK;
}

static int32_t to_step(double frac, uint32_t T) {
    int32_t t = (int32_t)lround(frac * T);
    return t < 0 ? 0 : t > (int32_t)T - 1 ? (int32_t)T - 1 : t;
}

void vkd_tsched_range(const vkd_tsched_desc* d, uint32_t step, int32_t* lo, int32_t* hi) {
    sched s = resolve(d);
    double mx = s.t_max;
    switch (d->kind) {
    case VKD_TSCHED_STEP:
        if (d->anneal_steps && step >= d->anneal_steps) mx = s.t_max_end;
        break;
    case VKD_TSCHED_LINEAR:
        if (d->anneal_steps) {
            double u = step >= d->anneal_steps ? 1.0 : (double)step / d->anneal_steps;
            mx = s.t_max + (s.t_max_end - s.t_max) * u;
        }
        break;
    case VKD_TSCHED_SQRT:
        if (d->anneal_steps) {
            double u = step >= d->anneal_steps ? 1.0 : (double)step / d->anneal_steps;
            mx = s.t_max - (s.t_max - s.t_min) * sqrt(u);
        }
        break;
    default: break;
    }
    *lo = to_step(s.t_min, s.T);
    *hi = to_step(mx, s.T);
    if (*hi < *lo) *hi = *lo;
    if (d->kind == VKD_TSCHED_SQRT) *lo = *hi;  // deterministic
}

int32_t vkd_tsched_sample(const vkd_tsched_desc* d, uint32_t step, vkd_rng* r) {
    int32_t lo, hi;
    vkd_tsched_range(d, step, &lo, &hi);
    return vkd_rng_int(r, lo, hi);
}

int32_t vkd_asd_t_plus(int32_t t, int32_t t_min, float eta, double u, uint32_t T) {
    double span = (double)eta * (double)(t - t_min);
    int32_t tp = t + (int32_t)lround(u * (span > 0 ? span : 0));
    return tp > (int32_t)T - 1 ? (int32_t)T - 1 : tp;
}
