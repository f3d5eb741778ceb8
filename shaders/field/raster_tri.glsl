// Triangle setup shared by the rasterizer's passes. Every quantity that decides visibility is
// `precise`, so the depth pass and the id pass (separately compiled pipelines) compute the
// same bits and the id pass's equality test finds the depth pass's winner.

struct raster_cam {
    vec3 r0, r1, r2;   // rows of world -> camera rotation
    vec3 t;
    float fx, fy, cx, cy, znear, zfar;
    vec3 pos;          // camera center in world space
};

raster_cam raster_load_cam(uint64_t addr) {
    f32 c = f32(addr);
    raster_cam k;
    k.r0 = vec3(c.v[0], c.v[1], c.v[2]);
    k.r1 = vec3(c.v[3], c.v[4], c.v[5]);
    k.r2 = vec3(c.v[6], c.v[7], c.v[8]);
    k.t = vec3(c.v[9], c.v[10], c.v[11]);
    k.fx = c.v[12];
    k.fy = c.v[13];
    k.cx = c.v[14];
    k.cy = c.v[15];
    k.znear = c.v[16];
    k.zfar = c.v[17];
    k.pos = vec3(c.v[18], c.v[19], c.v[20]);
    return k;
}

struct raster_tri {
    vec3 w0, w1, w2;     // world positions
    vec3 z;              // camera-space depths of the three vertices
    vec2 s0, s1, s2;     // screen positions (pixels)
    float area;          // signed twice-area in screen space
};

float raster_edge(vec2 a, vec2 b, vec2 q) {
    precise float e = (b.x - a.x) * (q.y - a.y) - (b.y - a.y) * (q.x - a.x);
    return e;
}

vec3 raster_vertex(f32 pos, uint v) { return vec3(pos.v[3 * v], pos.v[3 * v + 1], pos.v[3 * v + 2]); }

// False when the triangle is not drawn: a vertex in front of the near plane (no clipping:
// an orbit camera stays outside the asset), all beyond the far plane, or zero screen area.
bool raster_setup(uint tri, uint64_t positions, uint64_t indices, raster_cam k, out raster_tri t) {
    f32 pos = f32(positions);
    u32 idx = u32(indices);
    t.w0 = raster_vertex(pos, idx.v[3 * tri]);
    t.w1 = raster_vertex(pos, idx.v[3 * tri + 1]);
    t.w2 = raster_vertex(pos, idx.v[3 * tri + 2]);
    vec3 w[3] = vec3[3](t.w0, t.w1, t.w2);
    vec2 s[3];
    precise vec3 z;
    for (int i = 0; i < 3; i++) {
        precise float x = k.r0.x * w[i].x + k.r0.y * w[i].y + k.r0.z * w[i].z + k.t.x;
        precise float y = k.r1.x * w[i].x + k.r1.y * w[i].y + k.r1.z * w[i].z + k.t.y;
        precise float zz = k.r2.x * w[i].x + k.r2.y * w[i].y + k.r2.z * w[i].z + k.t.z;
        z[i] = zz;
        precise vec2 sc = vec2(k.fx * x / zz + k.cx, k.fy * y / zz + k.cy);
        s[i] = sc;
    }
    t.z = z;
    t.s0 = s[0];
    t.s1 = s[1];
    t.s2 = s[2];
    if (z.x < k.znear || z.y < k.znear || z.z < k.znear) return false;
    if (z.x > k.zfar && z.y > k.zfar && z.z > k.zfar) return false;
    t.area = raster_edge(t.s0, t.s1, t.s2);
    return t.area != 0.0;
}

// Edge functions of the pixel center q, signed so that inside means all >= 0.
vec3 raster_weights(raster_tri t, vec2 q) {
    precise vec3 e = vec3(raster_edge(t.s1, t.s2, q), raster_edge(t.s2, t.s0, q), raster_edge(t.s0, t.s1, q));
    return t.area < 0.0 ? -e : e;
}

// Perspective-correct depth at a pixel from its (non-negative) edge functions.
float raster_depth(raster_tri t, vec3 e) {
    precise float inv = (e.x / t.z.x + e.y / t.z.y + e.z / t.z.z) / abs(t.area);
    precise float d = 1.0 / inv;
    return d;
}
