// The two coefficients (ca, cb) of out = ca * a + cb * b for op at sample index `smp`,
// or, for the ops that divide, the divisor in cd (out = (ca * a + cb * b) / cd) so the
// forward rounds like diffusers: (x_t - sb * eps) / sa.
void sched_coefs(uint smp, out float ca, out float cb, out float cd) {
    float tf = f32(p.timesteps).v[smp];
    int ti = clamp(int(round(tf)), 0, int(p.N) - 1);
    float sa = f32(p.table).v[ti], sb = f32(p.table).v[int(p.N) + ti];
    cd = 1.0;
    if (p.op == 0u) { ca = sa; cb = sb; }                 // add_noise (x0, eps)
    else if (p.op == 1u) { ca = -sb; cb = sa; }           // velocity (x0, eps)
    else if (p.op == 2u) { ca = sb; cb = sa; }            // eps from v (x_t, v)
    else if (p.op == 3u) { ca = sa; cb = -sb; }           // x0 from v (x_t, v)
    else if (p.op == 4u) { ca = 1.0; cb = -sb; cd = sa; } // x0 from eps (x_t, eps)
    else if (p.op == 5u) { ca = 1.0; cb = -sa; cd = sb; } // eps from x0 (x_t, x0)
    else { ca = -sb; cb = 1.0; cd = sa; }                 // v from eps (x_t, eps)
}
