// Workgroup-wide exclusive scan through shared memory only (no subgroup operations, so
// it behaves the same for every subgroup size). The includer declares the workgroup
// size as the specialization constant WG and `shared uint scan_tmp[2 * WG];`.
// Every invocation of the workgroup must call it (it contains barriers).

// Kogge-Stone over WG values with ping-pong halves: log2(WG) steps, one barrier each.
uint block_scan_exclusive(uint v, out uint total) {
    uint t = gl_LocalInvocationID.x;
    uint src = 0;
    scan_tmp[t] = v;
    barrier();
    for (uint off = 1; off < WG; off <<= 1) {
        uint x = scan_tmp[src + t];
        if (t >= off) x += scan_tmp[src + t - off];
        src ^= WG;
        scan_tmp[src + t] = x;
        barrier();
    }
    uint inclusive = scan_tmp[src + t];
    total = scan_tmp[src + WG - 1];
    barrier();  // the caller may call again right away and overwrite scan_tmp
    return inclusive - v;
}
