// AVX-512 max of adjacent pairs (2-wide, stride-2 max pooling), 16 outputs per step:
// two loads of 16 floats, two permutes that split even and odd lanes, one NaN-keeping max.
#include "frugal_pool.h"

#if defined(__x86_64__)
#include <immintrin.h>

#define P_T512 __attribute__((target("avx512f,avx512bw,avx512dq,avx512vl")))

// max(a, b) that returns NaN when either is NaN (vmaxps alone returns b when a is NaN).
static inline P_T512 __m512 p512_nanmax(__m512 a, __m512 b) {
    __m512 r = _mm512_max_ps(a, b);
    return _mm512_mask_mov_ps(r, _mm512_cmp_ps_mask(a, a, _CMP_UNORD_Q), a);
}

P_T512 void frugal_maxpool_pairs_avx512(const float *row, float *out, size_t n, int accumulate) {
    const __m512i even = _mm512_setr_epi32(0, 2, 4, 6, 8, 10, 12, 14, 16, 18, 20, 22, 24, 26, 28, 30);
    const __m512i odd = _mm512_setr_epi32(1, 3, 5, 7, 9, 11, 13, 15, 17, 19, 21, 23, 25, 27, 29, 31);
    size_t i = 0;
    for (; i + 16 <= n; i += 16) {
        __m512 v0 = _mm512_loadu_ps(row + 2 * i), v1 = _mm512_loadu_ps(row + 2 * i + 16);
        __m512 m = p512_nanmax(_mm512_permutex2var_ps(v0, even, v1), _mm512_permutex2var_ps(v0, odd, v1));
        if (accumulate) m = p512_nanmax(_mm512_loadu_ps(out + i), m);
        _mm512_storeu_ps(out + i, m);
    }
    if (i < n) {
        size_t r = n - i;  // 1...15 outputs, 2...30 inputs
        __mmask16 mo = (__mmask16)((1u << r) - 1u);
        __mmask16 m0 = r >= 8 ? (__mmask16)0xFFFF : (__mmask16)((1u << (2 * r)) - 1u);
        __mmask16 m1 = r > 8 ? (__mmask16)((1u << (2 * r - 16)) - 1u) : 0;
        __m512 v0 = _mm512_maskz_loadu_ps(m0, row + 2 * i), v1 = _mm512_maskz_loadu_ps(m1, row + 2 * i + 16);
        __m512 m = p512_nanmax(_mm512_permutex2var_ps(v0, even, v1), _mm512_permutex2var_ps(v0, odd, v1));
        if (accumulate) m = p512_nanmax(_mm512_maskz_loadu_ps(mo, out + i), m);
        _mm512_mask_storeu_ps(out + i, mo, m);
    }
}

// Plane means: two accumulators per plane over full vectors, the tail by one masked load,
// one horizontal sum. MobileNetV2's 1280 planes of 7x7 are 4 loads and a reduction each.
P_T512 void frugal_plane_means_avx512(const float *x, float *out, size_t planes, size_t size, float scale) {
    const size_t tail = size & 15;
    const __mmask16 mt = (__mmask16)((1u << tail) - 1u);
    for (size_t p = 0; p < planes; p++) {
        const float *v = x + p * size;
        __m512 a0 = _mm512_setzero_ps(), a1 = _mm512_setzero_ps();
        size_t i = 0;
        for (; i + 32 <= size; i += 32) {
            a0 = _mm512_add_ps(a0, _mm512_loadu_ps(v + i));
            a1 = _mm512_add_ps(a1, _mm512_loadu_ps(v + i + 16));
        }
        if (i + 16 <= size) {
            a0 = _mm512_add_ps(a0, _mm512_loadu_ps(v + i));
            i += 16;
        }
        if (tail) a1 = _mm512_add_ps(a1, _mm512_maskz_loadu_ps(mt, v + i));
        out[p] = _mm512_reduce_add_ps(_mm512_add_ps(a0, a1)) * scale;
    }
}

#else
void frugal_maxpool_pairs_avx512(const float *row, float *out, size_t n, int accumulate) {
    frugal_maxpool_pairs_portable(row, out, n, accumulate);
}
void frugal_plane_means_avx512(const float *x, float *out, size_t planes, size_t size, float scale) {
    frugal_plane_means_portable(x, out, planes, size, scale);
}
#endif
