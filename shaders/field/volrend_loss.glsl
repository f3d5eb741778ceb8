// Regulariser terms f_i and their derivatives, shared by the loss kernels.
layout(push_constant) uniform Push { vkd_volrend_loss_push p; };

float opacity_term(float o) {
    if (p.kind == VOLREND_OPACITY_L1) return abs(o);
    if (p.kind == VOLREND_OPACITY_SQRT) return sqrt(o * o + p.eps);
    float c = clamp(o, p.eps, 1.0 - p.eps);
    return -c * log(c) - (1.0 - c) * log(1.0 - c);
}

float opacity_grad(float o) {
    if (p.kind == VOLREND_OPACITY_L1) return sign(o);
    if (p.kind == VOLREND_OPACITY_SQRT) return o / sqrt(o * o + p.eps);
    // The clamp passes gradient only inside [eps, 1 - eps] (as torch.clamp does).
    if (o < p.eps || o > 1.0 - p.eps) return 0.0;
    return log((1.0 - o) / o);
}

vec3 loss_load3(uint64_t a, uint i) {
    f32 b = f32(a);
    return vec3(b.v[3 * i], b.v[3 * i + 1], b.v[3 * i + 2]);
}

// w max(0, n . d)^2
float orient_term(uint i) {
    float c = max(dot(loss_load3(p.nrm, i), loss_load3(p.dirs, i)), 0.0);
    return f32(p.weights).v[i] * c * c;
}
