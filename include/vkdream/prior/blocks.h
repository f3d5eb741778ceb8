// Building blocks shared by the SD UNet and VAE (diffusers' resnet.py): ResnetBlock2D,
// Downsample2D and Upsample2D, with forward and backward, following the prior module
// convention (see PRIOR.md):
//
//   - a module is a small struct: its resolved config plus the indices of its parameters
//     in a vkd_params set (UINT32_MAX for a parameter the config does not have);
//   - *_declare adds the parameters with their diffusers names (prefix + local name);
//   - *_forward records dispatches on a stream (never submits); temporaries come from the
//     arena. With a non-NULL `saved` it keeps in it what the backward needs (valid until
//     the caller pops/resets the arena); with NULL it releases its temporaries before
//     returning (the output itself is the caller's);
//   - *_backward ACCUMULATES (+=) into every gradient it is given: the input gradients
//     (0 = not needed) and the parameter gradients (vkd_params_grad of the set: skipped
//     when the set has no gradient buffer, i.e. is frozen). Its own temporaries are
//     released before it returns.
//
// Layout NCHW, fp32. `out` must never overlap an input.
#ifndef VKDREAM_PRIOR_BLOCKS_H
#define VKDREAM_PRIOR_BLOCKS_H

#include "vkdream/gpu.h"
#include "vkdream/nn/arena.h"
#include "vkdream/nn/matmul.h"
#include "vkdream/nn/params.h"

#ifdef __cplusplus
extern "C" {
#endif

#define VKD_MODULE_PREFIX_MAX 160

// ---------------------------------------------------------------------------
// ResnetBlock2D (diffusers, resnet_time_scale_shift "default", output_scale_factor 1,
// dropout ignored: inference and SDS never use it):
//
//   h   = conv1(SiLU(norm1(x)))                       norm1: GroupNorm(groups, Cin, eps)
//   h  += time_emb_proj(SiLU(temb))[:, :, None, None] only when temb_channels > 0
//   h   = conv2(SiLU(norm2(h)))                       norm2: GroupNorm(groups_out, Cout, eps)
//   out = shortcut(x) + h                             shortcut: 1x1 conv_shortcut when
//                                                     Cin != Cout, else the identity
//
// Parameters (prefix + ...): norm1.{weight,bias} (Cin), conv1.{weight (Cout,Cin,3,3), bias},
// time_emb_proj.{weight (Cout,T), bias} when T > 0, norm2.{weight,bias} (Cout),
// conv2.{weight (Cout,Cout,3,3), bias}, conv_shortcut.{weight (Cout,Cin,1,1), bias} when
// Cin != Cout. eps is 1e-5 in the UNet, 1e-6 in the VAE.
typedef struct vkd_resnet_desc {
    uint32_t in_channels;    // Cin (required)
    uint32_t out_channels;   // Cout; 0 = Cin
    uint32_t temb_channels;  // T; 0 = no time embedding (the VAE)
    uint32_t groups;         // norm1 groups; 0 = 32
    uint32_t groups_out;     // norm2 groups; 0 = groups
    float eps;               // 0 = 1e-5 (pass 1e-6 for the VAE)
} vkd_resnet_desc;

typedef struct vkd_resnet {
    vkd_resnet_desc d;       // resolved (no zeros left)
    char prefix[VKD_MODULE_PREFIX_MAX];
    uint32_t norm1_w, norm1_b, conv1_w, conv1_b;
    uint32_t temb_w, temb_b; // UINT32_MAX without a time embedding
    uint32_t norm2_w, norm2_b, conv2_w, conv2_b;
    uint32_t short_w, short_b; // UINT32_MAX for the identity shortcut
} vkd_resnet;

// What the resnet backward needs; filled by the forward (arena addresses + sizes).
typedef struct vkd_resnet_saved {
    uint32_t B, H, W;
    vkd_addr x;              // (B, Cin, H, W): the caller's input (not copied: keep it alive)
    vkd_addr temb;           // (B, T) the caller's temb, or 0
    vkd_addr mean1, rstd1;   // (B, groups)
    vkd_addr h1;             // (B, Cin, H, W)  SiLU(norm1(x)), input of conv1 (0 when the weights are
                             // frozen: only their gradients need it)
    vkd_addr temb_act;       // (B, T)          SiLU(temb), input of time_emb_proj, or 0
    vkd_addr h2;             // (B, Cout, H, W) conv1 out + temb projection, input of norm2
    vkd_addr mean2, rstd2;   // (B, groups_out)
    vkd_addr h3;             // (B, Cout, H, W) SiLU(norm2(h2)), input of conv2 (0 when frozen)
} vkd_resnet_saved;

// Resolves d's defaults and checks it (groups divide the channels), then declares the
// parameters. Errors name the prefix and the bad value.
vkd_status vkd_resnet_declare(vkd_resnet* m, vkd_params* p, const char* prefix, const vkd_resnet_desc* d,
                              vkd_error* err);

// out = ResnetBlock2D(x, temb). temb must be given iff temb_channels > 0.
void vkd_resnet_forward(const vkd_resnet* m, const vkd_params* p, vkd_stream* s, vkd_arena* a,
                        vkd_addr out,   // (B, Cout, H, W)
                        vkd_addr x,     // (B, Cin, H, W)
                        vkd_addr temb,  // (B, T) or 0
                        uint32_t B, uint32_t H, uint32_t W, vkd_resnet_saved* saved);

// dx += dL/dx, dtemb += dL/dtemb (either may be 0), parameter gradients += (unless frozen),
// given dout = dL/dout and the forward's saved state.
void vkd_resnet_backward(const vkd_resnet* m, const vkd_params* p, vkd_stream* s, vkd_arena* a,
                         vkd_addr dx,     // (B, Cin, H, W) or 0
                         vkd_addr dtemb,  // (B, T) or 0
                         vkd_addr dout,   // (B, Cout, H, W)
                         const vkd_resnet_saved* saved);

// ---------------------------------------------------------------------------
// Downsample2D with use_conv=True: a 3x3 conv with stride 2.
//   VKD_DOWNSAMPLE_PAD1:   padding 1 on every side (the UNet),
//   VKD_DOWNSAMPLE_PAD_BR: the VAE encoder: F.pad(x, (0, 1, 0, 1)) then padding 0,
// so OH = floor((H - 1) / 2) + 1 for PAD1 and floor((H - 2) / 2) + 1 for PAD_BR (both H/2
// for even H). Parameters: prefix + conv.{weight (Cout,Cin,3,3), bias (Cout)}.
typedef enum vkd_downsample_pad {
    VKD_DOWNSAMPLE_PAD1 = 0,
    VKD_DOWNSAMPLE_PAD_BR = 1,
} vkd_downsample_pad;

typedef struct vkd_sample_desc {
    uint32_t in_channels;   // required
    uint32_t out_channels;  // 0 = in_channels
    vkd_downsample_pad pad; // Downsample2D only
} vkd_sample_desc;

typedef struct vkd_downsample {
    vkd_sample_desc d;
    char prefix[VKD_MODULE_PREFIX_MAX];
    uint32_t conv_w, conv_b;
} vkd_downsample;

typedef struct vkd_downsample_saved {
    uint32_t B, H, W;       // input size
    vkd_addr x;             // (B, Cin, H, W): the caller's input (kept alive by the caller)
} vkd_downsample_saved;

vkd_status vkd_downsample_declare(vkd_downsample* m, vkd_params* p, const char* prefix, const vkd_sample_desc* d,
                                  vkd_error* err);
// Output size of the downsampler for an H x W input.
void vkd_downsample_out_size(const vkd_downsample* m, uint32_t H, uint32_t W, uint32_t* OH, uint32_t* OW);
// out = conv3x3_stride2(x).
void vkd_downsample_forward(const vkd_downsample* m, const vkd_params* p, vkd_stream* s, vkd_arena* a,
                            vkd_addr out,  // (B, Cout, OH, OW)
                            vkd_addr x,    // (B, Cin, H, W)
                            uint32_t B, uint32_t H, uint32_t W, vkd_downsample_saved* saved);
void vkd_downsample_backward(const vkd_downsample* m, const vkd_params* p, vkd_stream* s, vkd_arena* a,
                             vkd_addr dx,    // (B, Cin, H, W) or 0
                             vkd_addr dout,  // (B, Cout, OH, OW)
                             const vkd_downsample_saved* saved);

// ---------------------------------------------------------------------------
// Upsample2D with use_conv=True: nearest 2x upsampling, then a 3x3 conv with padding 1.
// Parameters: prefix + conv.{weight (Cout,Cin,3,3), bias (Cout)}.
typedef struct vkd_upsample {
    vkd_sample_desc d;
    char prefix[VKD_MODULE_PREFIX_MAX];
    uint32_t conv_w, conv_b;
} vkd_upsample;

typedef struct vkd_upsample_saved {
    uint32_t B, H, W;       // input size
    vkd_addr up;            // (B, Cin, 2H, 2W) the upsampled input (arena)
} vkd_upsample_saved;

vkd_status vkd_upsample_declare(vkd_upsample* m, vkd_params* p, const char* prefix, const vkd_sample_desc* d,
                                vkd_error* err);
// out = conv3x3(nearest2x(x)).
void vkd_upsample_forward(const vkd_upsample* m, const vkd_params* p, vkd_stream* s, vkd_arena* a,
                          vkd_addr out,  // (B, Cout, 2H, 2W)
                          vkd_addr x,    // (B, Cin, H, W)
                          uint32_t B, uint32_t H, uint32_t W, vkd_upsample_saved* saved);
void vkd_upsample_backward(const vkd_upsample* m, const vkd_params* p, vkd_stream* s, vkd_arena* a,
                           vkd_addr dx,    // (B, Cin, H, W) or 0
                           vkd_addr dout,  // (B, Cout, 2H, 2W)
                           const vkd_upsample_saved* saved);

// ---------------------------------------------------------------------------
// Helpers for the prior modules (also used by the UNet and VAE).

// Declares parameter prefix + local with the given shape into *idx; an error naming it when
// the name is too long or was declared before with another shape.
vkd_status vkd_prior_param(vkd_params* p, uint32_t* idx, vkd_error* err, int ndim, const int64_t* shape,
                           const char* prefix, const char* local);

// The 1x1 projections between a channel-major feature map x (B, C, HW) and tokens t (B, HW, C)
// as GEMMs with a (C, C) weight W and bias b (w_f16: W is stored as fp16):
//   in:  t = x^T W^T + b          (vkd_matmul_forward(s, t, x, W, b, &desc))
//   out: y = W t^T + b[:, None]   (vkd_matmul_forward(s, y, W, t, b, &desc))
vkd_matmul_desc vkd_prior_tokens_in_desc(uint32_t B, uint32_t C, uint32_t HW, bool w_f16);
vkd_matmul_desc vkd_prior_tokens_out_desc(uint32_t B, uint32_t C, uint32_t HW, bool w_f16);

// conv2d of a layer whose weight w and bias b (UINT32_MAX: none) are parameters of p, the
// weight read as stored (fp32, or fp16 in an fp16 set).
struct vkd_conv2d_desc;
void vkd_prior_conv2d_forward(vkd_stream* s, vkd_addr out, vkd_addr inp, const vkd_params* p, uint32_t w, uint32_t b,
                              uint32_t B, uint32_t C, uint32_t H, uint32_t W, uint32_t OC, uint32_t KH, uint32_t KW,
                              const struct vkd_conv2d_desc* desc);
// Its backward: dinp += (0: not needed) and the gradients of w and b when p has a gradient
// buffer, with a split-K workspace from the arena when that helps (released before returning).
// desc's workspace fields are ignored.
void vkd_prior_conv2d_backward(vkd_stream* s, vkd_arena* a, vkd_addr dinp, vkd_addr dout, vkd_addr inp,
                               const vkd_params* p, uint32_t w, uint32_t b, uint32_t B, uint32_t C, uint32_t H,
                               uint32_t W, uint32_t OC, uint32_t KH, uint32_t KW, const struct vkd_conv2d_desc* desc);

#ifdef __cplusplus
}
#endif
#endif
