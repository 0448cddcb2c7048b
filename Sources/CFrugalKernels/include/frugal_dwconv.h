// Depthwise convolution: one output plane from one input plane (NCHW fp32), with implicit
// zero padding (no padded copy of the plane), the channel's bias and an optional clamp.
//
//   out[oh, ow] = bias + sum_{kh, kw} w[kh * kW + kw] * in[oh*sH - padTop + kh*dH,
//                                                          ow*sW - padLeft + kw*dW]
// where taps outside the H x W plane read zero; then clamped to [lo, hi] when `clamp`.
#pragma once
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef struct frugal_dwconv_shape {
    size_t h, w;           // input plane
    size_t oh, ow;         // output plane
    size_t kh, kw;         // kernel
    size_t sh, sw;         // strides (>= 1)
    size_t dh, dw;         // dilations (>= 1)
    size_t pad_top, pad_left;
    uint32_t clamp;        // nonzero: clamp the result to [lo, hi]
    float lo, hi;
} frugal_dwconv_shape;

// AVX-512, `count` consecutive channels: plane i reads in + i*h*w and w + i*kh*kw, adds
// bias[i] (bias NULL: 0) and writes out + i*oh*ow. Handles sw of 1 and 2 with kw up to 32
// (any kernel height, dilation and padding), and any stride when output rows are at most 8
// wide and input rows at most 16; returns 0 without writing when it does not handle the
// shape (or this build has no AVX-512), 1 when it wrote the planes.
int frugal_dwconv_planes_avx512(const frugal_dwconv_shape *s, size_t count, const float *in,
                                const float *w, const float *bias, float *out);
// Plain C, any shape: interior columns without bounds tests, edges with them.
void frugal_dwconv_plane_portable(const frugal_dwconv_shape *s, const float *in,
                                  const float *w, float bias, float *out);

#ifdef __cplusplus
}
#endif
