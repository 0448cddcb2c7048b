// Direct convolution for shallow reductions (few input channels, e.g. a network's first
// convolution: 3 x 3 x 3 taps), NCHW fp32, groups 1, with the output positions in the vector
// lanes: no column matrix, the output written in place with bias and clamp.
//
// The caller hands out bands of output rows. For a band, the input rows it reads are copied
// once into a small buffer, zero-padded and split by column phase (for stride sW the columns
// sW*j + r of a padded row go to phase r), so that each kernel tap is one contiguous
// unaligned load of 16 output positions, whatever the stride, padding or dilation.
#pragma once
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

// Taps (input channels x kernel height x kernel width) the kernel accepts.
#define FRUGAL_CONVS_MAX_TAPS 256
// Output channels are computed in blocks of this many; the packed weights' rows are padded
// to a multiple of it.
#define FRUGAL_CONVS_MR 8

typedef struct frugal_convs_shape {
    size_t cin, h, w;        // input image (one of the batch)
    size_t oh, ow;           // output plane
    size_t kh, kw, sh, sw, dh, dw;
    size_t pad_top, pad_left;
    size_t m;                // output channels
    const float *weight;     // [cin*kh*kw][mpad]: tap-major, output channels contiguous,
    size_t mpad;             // m rounded up to FRUGAL_CONVS_MR, zeros past m
    const float *bias;       // m values or NULL
    uint32_t clamp;          // nonzero: clamp the result to [lo, hi]
    float lo, hi;
} frugal_convs_shape;

// Floats of buffer frugal_convs_band_avx512 needs for bands of up to `rows` output rows.
size_t frugal_convs_buffer_count(const frugal_convs_shape *s, size_t rows);

// AVX-512: output rows oh0..<oh1 of one image, `in` [cin, h, w] -> `out` [m, oh, ow], using
// `buf` (frugal_convs_buffer_count(s, oh1 - oh0) floats). Returns 0 without writing when
// this build or CPU has no AVX-512 or the shape has more than FRUGAL_CONVS_MAX_TAPS taps,
// 1 when it wrote the rows.
int frugal_convs_band_avx512(const frugal_convs_shape *s, const float *in, size_t oh0, size_t oh1,
                             float *buf, float *out);

#ifdef __cplusplus
}
#endif
