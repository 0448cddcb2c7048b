// Pooling inner loops (AVX-512, portable): the 2-wide, stride-2 max of one input row, and
// the means of contiguous planes (global average pooling).
//
// out[i] = max(row[2i], row[2i+1]) for i < n, also max'ed with the current out[i] when
// `accumulate` is non-zero (one call per kernel row of a window). A NaN anywhere in the
// window makes the output NaN (ONNX MaxPool as ONNX Runtime computes it).
#pragma once
#include <stddef.h>

#ifdef __cplusplus
extern "C" {
#endif

void frugal_maxpool_pairs_avx512(const float *row, float *out, size_t n, int accumulate);
void frugal_maxpool_pairs_portable(const float *row, float *out, size_t n, int accumulate);

// Global average pooling: out[p] = scale * sum of x[p * size ..< (p + 1) * size] for each of
// `planes` contiguous planes (scale = 1 / size from the caller).
void frugal_plane_means_avx512(const float *x, float *out, size_t planes, size_t size, float scale);
void frugal_plane_means_portable(const float *x, float *out, size_t planes, size_t size, float scale);

#ifdef __cplusplus
}
#endif
