// Source coordinates of bilinear resizing with PyTorch's align_corners=False,
// antialias=False: half-pixel centres, scale = in / out, and the source position clamped
// at 0 (not at the far edge, where the upper neighbour is clamped instead). Shared by
// the forward and the backward kernel, so both see bit-identical taps.
struct bilinear_tap {
    uint i0, i1;   // the two source indices (equal at the far edge)
    float l1;      // weight of i1; i0 gets 1 - l1
};

bilinear_tap bilinear_at(uint o, uint in_size, uint out_size) {
    const float scale = float(in_size) / float(out_size);
    const float src = max((float(o) + 0.5) * scale - 0.5, 0.0);
    bilinear_tap t;
    t.i0 = uint(src);
    t.i1 = t.i0 + (t.i0 + 1 < in_size ? 1 : 0);
    t.l1 = src - float(t.i0);
    return t;
}
