// Density activation and bias of the NeRF field (hashgrid_head_*.comp); matches
// src/field/hashgrid_field_ref.c.

float hg_bias(vec3 x, out vec3 grad) {
    grad = vec3(0);
    if (p.bias_kind == HASHGRID_BIAS_MAGIC3D) {
        float r = length(x);
        if (r > 0.0) grad = -(p.blob_density / p.blob_radius) * x / r;
        return p.blob_density * (1.0 - r / p.blob_radius);
    }
    if (p.bias_kind == HASHGRID_BIAS_DREAMFUSION) {
        float b = p.blob_density * exp(-0.5 * dot(x, x) / (p.blob_radius * p.blob_radius));
        grad = -b * x / (p.blob_radius * p.blob_radius);
        return b;
    }
    if (p.bias_kind == HASHGRID_BIAS_CONSTANT) return p.blob_density;
    return 0.0;
}

// log(1 + e) for e in [0, 1] without losing the small values.
float hg_log1p(float e) { return e < 1e-4 ? e * (1.0 - 0.5 * e) : log(1.0 + e); }

float hg_density(float z) {
    if (p.activation == HASHGRID_DENSITY_SOFTPLUS) return z > 20.0 ? z : max(z, 0.0) + hg_log1p(exp(-abs(z)));
    return exp(z);
}

float hg_density_grad(float z) {
    if (p.activation == HASHGRID_DENSITY_SOFTPLUS) return 1.0 / (1.0 + exp(-z));
    if (p.activation == HASHGRID_DENSITY_TRUNC_EXP) return exp(min(z, 15.0));
    return exp(z);
}

float hg_sigmoid(float v) { return 1.0 / (1.0 + exp(-v)); }
