// Pooling inner loops (AVX-512, portable): the 2-wide, stride-2 max of one input row.
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

#ifdef __cplusplus
}
#endif
