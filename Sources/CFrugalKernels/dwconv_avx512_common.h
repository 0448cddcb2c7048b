// Helpers shared by the AVX-512 depthwise kernels (dwconv_avx512*.c); private to
// CFrugalKernels.
#pragma once
#include "frugal_dwconv.h"

#if defined(__x86_64__)
#include <immintrin.h>

#define FDW_T512 __attribute__((target("avx512f,avx512bw,avx512dq,avx512vl,fma")))
#define FDW_INL static inline __attribute__((always_inline))

// Lanes j in 0..<16 whose column c0 + j lies in [0, w).
FDW_INL FDW_T512 __mmask16 fdw_mask(ptrdiff_t c0, ptrdiff_t w) {
    ptrdiff_t lo = c0 < 0 ? -c0 : 0;
    ptrdiff_t hi = w - c0;
    if (hi > 16) hi = 16;
    if (hi <= lo) return 0;
    uint32_t bits = (hi >= 16 ? 0xFFFFu : ((1u << hi) - 1u));
    bits &= ~((1u << lo) - 1u);
    return (__mmask16)bits;
}

// Clamp (when asked) and store the 16 outputs at `o` under `store` (all 16 when FULL).
FDW_INL FDW_T512 void fdw_store(float *o, __m512 acc, int clamp, __m512 lo, __m512 hi,
                                __mmask16 store) {
    if (clamp) acc = _mm512_min_ps(_mm512_max_ps(acc, lo), hi);
    if (store == (__mmask16)0xFFFF) _mm512_storeu_ps(o, acc);
    else _mm512_mask_storeu_ps(o, store, acc);
}

// The planes the narrow kernel takes (output rows of at most 8, input rows of at most 16):
// returns 0 without writing for any other shape.
int fdw_narrow_planes(const frugal_dwconv_shape *s, size_t count, const float *in,
                      const float *w, const float *bias, float *out);
#endif
