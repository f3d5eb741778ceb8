// Workgroup-wide sums and maxima shared by the reduction and normalization kernels:
// one subgroup operation, then every invocation adds the per-subgroup results from
// shared memory in subgroup order. All invocations get the same value, and the order
// is fixed for a given device and workgroup size: deterministic, no atomics. Two
// barriers per call, whatever the workgroup size (llvmpipe pays per barrier).
// The includer declares its workgroup size (at most 256 invocations) first. Every
// invocation of the workgroup must make the same calls (they contain barriers).
#extension GL_KHR_shader_subgroup_basic : require
#extension GL_KHR_shader_subgroup_arithmetic : require

// One slot per subgroup; sized for the worst case of 1-wide subgroups.
shared vec2 vkd_red_sh[256];

vec2 vkd_wg_sum2(vec2 v) {
    v = subgroupAdd(v);
    if (subgroupElect()) vkd_red_sh[gl_SubgroupID] = v;
    barrier();
    vec2 s = vec2(0.0);
    for (uint i = 0; i < gl_NumSubgroups; i++) s += vkd_red_sh[i];
    barrier();  // the next call may overwrite vkd_red_sh
    return s;
}

float vkd_wg_sum(float v) { return vkd_wg_sum2(vec2(v, 0.0)).x; }

float vkd_wg_max(float v) {
    v = subgroupMax(v);
    if (subgroupElect()) vkd_red_sh[gl_SubgroupID].x = v;
    barrier();
    float m = vkd_red_sh[0].x;
    for (uint i = 1; i < gl_NumSubgroups; i++) m = max(m, vkd_red_sh[i].x);
    barrier();
    return m;
}

// Linear index of this workgroup in a 1-D count of workgroups spread over x and y
// (the C side keeps each grid dimension within the device limit).
uint vkd_group_id() { return gl_WorkGroupID.y * gl_NumWorkGroups.x + gl_WorkGroupID.x; }
