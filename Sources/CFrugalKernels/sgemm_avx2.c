// fp32 GEMM micro-kernel for AVX2 + FMA: tiles of up to 6 rows x 16 columns.
//
// The full tile keeps 12 ymm accumulators (6 rows x 2 vectors of 8 floats); with the two B
// vectors and one broadcast register that is 15 of the 16 ymm registers. A k step is
// 2 B loads + 6 broadcast loads for 12 FMAs. Tiles of 1-3 rows split k over independent
// accumulator sets to keep enough FMAs in flight (latency 4-5 cycles x 2 ports).
#include "frugal_sgemm.h"

#if defined(__x86_64__)
#include <immintrin.h>

#define F_T256 __attribute__((target("avx2,fma")))
#define F_INL static inline __attribute__((always_inline))

// Lane mask with the first n (0...8) lanes set.
F_INL F_T256 __m256i f256_mask(size_t n) {
    const __m256i idx = _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7);
    int k = n >= 8 ? 8 : (int)n;
    return _mm256_cmpgt_epi32(_mm256_set1_epi32(k), idx);
}

F_INL F_T256 void f256_tile(const int R, const int S, const int DIRECT, const int MASKED,
                            size_t nr, size_t kc, const float *a, const float *b, size_t ldb,
                            float *c, size_t ldc, const frugal_sgemm_epilogue *ep) {
    __m256 acc[S][R][2];
    for (int s = 0; s < S; s++)
        for (int i = 0; i < R; i++) {
            acc[s][i][0] = _mm256_setzero_ps();
            acc[s][i][1] = _mm256_setzero_ps();
        }
    const __m256i m0 = f256_mask(nr), m1 = f256_mask(nr > 8 ? nr - 8 : 0);
    for (int i = 0; i < R; i++) _mm_prefetch((const char *)(c + i * ldc), _MM_HINT_T0);

#define F256_STEP(s)                                                                   \
    do {                                                                               \
        __m256 b0, b1;                                                                 \
        if (MASKED) {                                                                  \
            b0 = _mm256_maskload_ps(b, m0);                                            \
            b1 = _mm256_maskload_ps(b + 8, m1);                                        \
        } else {                                                                       \
            b0 = _mm256_loadu_ps(b);                                                   \
            b1 = _mm256_loadu_ps(b + 8);                                               \
        }                                                                              \
        if (DIRECT) {                                                                  \
            _mm_prefetch((const char *)(b + pf), _MM_HINT_T0);                         \
            _mm_prefetch((const char *)(b + pf + 15), _MM_HINT_T0);                    \
        }                                                                              \
        for (int i = 0; i < R; i++) {                                                  \
            __m256 av = _mm256_broadcast_ss(a + i);                                    \
            acc[s][i][0] = _mm256_fmadd_ps(av, b0, acc[s][i][0]);                      \
            acc[s][i][1] = _mm256_fmadd_ps(av, b1, acc[s][i][1]);                      \
        }                                                                              \
        a += R;                                                                        \
        b += ldb;                                                                      \
    } while (0)

    const ptrdiff_t pf = ep->prefetch;
    size_t p = 0;
    if (S > 1)
        for (; p + S <= kc; p += S)
            for (int s = 0; s < S; s++) F256_STEP(s);
    for (; p < kc; p++) F256_STEP(0);
#undef F256_STEP

    for (int s = 1; s < S; s++)
        for (int i = 0; i < R; i++) {
            acc[0][i][0] = _mm256_add_ps(acc[0][i][0], acc[s][i][0]);
            acc[0][i][1] = _mm256_add_ps(acc[0][i][1], acc[s][i][1]);
        }

    const uint32_t fl = ep->flags;
    __m256 bc0 = _mm256_setzero_ps(), bc1 = _mm256_setzero_ps();
    if (fl & FRUGAL_SGEMM_BIAS_COL) {
        bc0 = _mm256_maskload_ps(ep->bias, m0);
        bc1 = _mm256_maskload_ps(ep->bias + 8, m1);
    }
    const __m256 lo = _mm256_set1_ps(ep->lo), hi = _mm256_set1_ps(ep->hi);
    for (int i = 0; i < R; i++) {
        float *ci = c + i * ldc;
        __m256 x0 = acc[0][i][0], x1 = acc[0][i][1];
        if (fl & FRUGAL_SGEMM_ACCUMULATE) {
            x0 = _mm256_add_ps(x0, _mm256_maskload_ps(ci, m0));
            x1 = _mm256_add_ps(x1, _mm256_maskload_ps(ci + 8, m1));
        }
        if (fl & FRUGAL_SGEMM_BIAS_COL) {
            x0 = _mm256_add_ps(x0, bc0);
            x1 = _mm256_add_ps(x1, bc1);
        }
        if (fl & FRUGAL_SGEMM_BIAS_ROW) {
            __m256 br = _mm256_broadcast_ss(ep->bias + i);
            x0 = _mm256_add_ps(x0, br);
            x1 = _mm256_add_ps(x1, br);
        }
        if (fl & FRUGAL_SGEMM_CLAMP) {
            x0 = _mm256_min_ps(_mm256_max_ps(x0, lo), hi);
            x1 = _mm256_min_ps(_mm256_max_ps(x1, lo), hi);
        }
        if (nr == 16) {
            _mm256_storeu_ps(ci, x0);
            _mm256_storeu_ps(ci + 8, x1);
        } else {
            _mm256_maskstore_ps(ci, m0, x0);
            _mm256_maskstore_ps(ci + 8, m1, x1);
        }
    }
}

#define F256_CASE(R, S)                                                                 \
    case R:                                                                             \
        if (!direct) f256_tile(R, S, 0, 0, nr, kc, a, b, ldb, c, ldc, ep);              \
        else if (nr == 16) f256_tile(R, S, 1, 0, nr, kc, a, b, ldb, c, ldc, ep);        \
        else f256_tile(R, S, 1, 1, nr, kc, a, b, ldb, c, ldc, ep);                      \
        break;

F_T256 void frugal_sgemm_kernel_avx2(size_t mr, size_t nr, size_t kc, const float *a,
                                     const float *b, size_t ldb, float *c, size_t ldc,
                                     const frugal_sgemm_epilogue *ep) {
    const int direct = (ep->flags & FRUGAL_SGEMM_DIRECT_B) != 0;
    switch (mr) {
        F256_CASE(1, 4)
        F256_CASE(2, 2)
        F256_CASE(3, 2)
        F256_CASE(4, 1)
        F256_CASE(5, 1)
        F256_CASE(6, 1)
    default: break;
    }
}
#undef F256_CASE

F_INL F_T256 float f256_hsum(__m256 v) {
    __m128 x = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    x = _mm_add_ps(x, _mm_movehl_ps(x, x));
    x = _mm_add_ss(x, _mm_movehdup_ps(x));
    return _mm_cvtss_f32(x);
}

// Dot products for few rows x transposed B: R x C accumulators of 8 lanes along k, the k
// tail by masked loads, then one horizontal sum per element.
F_INL F_T256 void f256_dot(const int R, const int C, size_t k, const float *a, size_t lda,
                           const float *b, size_t ldb, float *c, size_t ldc,
                           const frugal_sgemm_epilogue *ep) {
    __m256 acc[R][C];
    for (int i = 0; i < R; i++)
        for (int j = 0; j < C; j++) acc[i][j] = _mm256_setzero_ps();
    size_t p = 0;
    for (; p + 8 <= k; p += 8) {
        __m256 bv[C];
        for (int j = 0; j < C; j++) bv[j] = _mm256_loadu_ps(b + j * ldb + p);
        for (int i = 0; i < R; i++) {
            __m256 av = _mm256_loadu_ps(a + i * lda + p);
            for (int j = 0; j < C; j++) acc[i][j] = _mm256_fmadd_ps(av, bv[j], acc[i][j]);
        }
    }
    if (p < k) {
        const __m256i m = f256_mask(k - p);
        __m256 bv[C];
        for (int j = 0; j < C; j++) bv[j] = _mm256_maskload_ps(b + j * ldb + p, m);
        for (int i = 0; i < R; i++) {
            __m256 av = _mm256_maskload_ps(a + i * lda + p, m);
            for (int j = 0; j < C; j++) acc[i][j] = _mm256_fmadd_ps(av, bv[j], acc[i][j]);
        }
    }
    for (int i = 0; i < R; i++)
        for (int j = 0; j < C; j++) {
            float *cij = c + i * ldc + j;
            *cij = frugal_sgemm_epilogue_one(f256_hsum(acc[i][j]), cij, i, j, ep);
        }
}

#define F256_DOT_ROW(R)                                                                 \
    case R:                                                                             \
        switch (nr) {                                                                   \
        case 1: f256_dot(R, 1, k, a, lda, b, ldb, c, ldc, ep); break;                   \
        case 2: f256_dot(R, 2, k, a, lda, b, ldb, c, ldc, ep); break;                   \
        case 3: f256_dot(R, 3, k, a, lda, b, ldb, c, ldc, ep); break;                   \
        default: f256_dot(R, 4, k, a, lda, b, ldb, c, ldc, ep); break;                  \
        }                                                                               \
        break;

F_T256 void frugal_sgemm_dot_avx2(size_t mr, size_t nr, size_t k, const float *a, size_t lda,
                                  const float *b, size_t ldb, float *c, size_t ldc,
                                  const frugal_sgemm_epilogue *ep) {
    switch (mr) {
        F256_DOT_ROW(1)
        F256_DOT_ROW(2)
        F256_DOT_ROW(3)
        F256_DOT_ROW(4)
    default: break;
    }
}
#undef F256_DOT_ROW

#else
// Not x86-64: the symbols exist so that Swift links everywhere; they are never selected.
void frugal_sgemm_dot_avx2(size_t mr, size_t nr, size_t k, const float *a, size_t lda,
                           const float *b, size_t ldb, float *c, size_t ldc,
                           const frugal_sgemm_epilogue *ep) {
    frugal_sgemm_dot_portable(mr, nr, k, a, lda, b, ldb, c, ldc, ep);
}
void frugal_sgemm_kernel_avx2(size_t mr, size_t nr, size_t kc, const float *a,
                              const float *b, size_t ldb, float *c, size_t ldc,
                              const frugal_sgemm_epilogue *ep) {
    frugal_sgemm_kernel_portable(mr, nr, kc, a, b, ldb, c, ldc, ep);
}
#endif
