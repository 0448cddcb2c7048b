// fp32 GEMM micro-kernel for AVX-512 (F/BW/DQ/VL + FMA): tiles of up to 12 rows x 32 columns.
//
// The full tile keeps 24 zmm accumulators (12 rows x 2 vectors of 16 floats). Each k step
// loads two B vectors and issues 24 FMAs whose A operand is an embedded broadcast from the
// packed A panel, so a k step is 2 loads + 12 broadcast loads for 24 FMAs: the two FMA ports
// stay busy and there are 8 registers to spare. Tiles with 1-3 rows have too few
// accumulators to cover the FMA latency (4 cycles x 2 ports = 8 FMAs in flight), so they
// split k over 2-4 independent accumulator sets that are summed before the epilogue.
// Every row count is its own instantiation so that partial tiles waste no FMAs.
#include "frugal_sgemm.h"

#if defined(__x86_64__)
#include <immintrin.h>

#define F_T512 __attribute__((target("avx512f,avx512bw,avx512dq,avx512vl,fma")))
#define F_INL static inline __attribute__((always_inline))

// Packed B panels stream from L2 (a 512 x 32 panel is 64 KiB): prefetch 16 k steps (2 KiB)
// ahead. An unpacked B (DIRECT_B) is prefetched where the driver says (ep->prefetch).
#define F_PF_B 16
// Tiles of 1-2 rows (batch 1) do so little work per B element that B streams at memory
// speed (a classifier's weights from L3): prefetch 64 k steps (8 KiB) ahead there.
#define F_PF_B_STREAM 64

F_INL F_T512 __mmask16 f512_mask(size_t n) {
    return n >= 16 ? (__mmask16)0xFFFF : (__mmask16)((1u << n) - 1u);
}

// DA: a is the caller's row-major A (row i at a + i * lda, read along k) instead of a
// packed panel; each broadcast then comes from one of R sequential row streams.
F_INL F_T512 void f512_tile(const int R, const int S, const int NV, const int DIRECT, const int MASKED,
                            const int DA, size_t nr, size_t kc, const float *a, size_t lda,
                            const float *b, size_t ldb, float *c, size_t ldc,
                            const frugal_sgemm_epilogue *ep) {
    __m512 acc[S][R][2];
    for (int s = 0; s < S; s++)
        for (int i = 0; i < R; i++) {
            acc[s][i][0] = _mm512_setzero_ps();
            acc[s][i][1] = _mm512_setzero_ps();
        }
    const __mmask16 m0 = f512_mask(nr), m1 = f512_mask(nr > 16 ? nr - 16 : 0);
    for (int i = 0; i < R; i++) {
        _mm_prefetch((const char *)(c + i * ldc), _MM_HINT_T0);
        _mm_prefetch((const char *)(c + i * ldc + nr - 1), _MM_HINT_T0);
    }

#define F512_STEP(s)                                                                   \
    do {                                                                               \
        __m512 b0, b1 = _mm512_setzero_ps();                                           \
        if (MASKED) {                                                                  \
            b0 = _mm512_maskz_loadu_ps(m0, b);                                         \
            if (NV == 2) b1 = _mm512_maskz_loadu_ps(m1, b + 16);                       \
        } else {                                                                       \
            b0 = _mm512_loadu_ps(b);                                                   \
            if (NV == 2) b1 = _mm512_loadu_ps(b + 16);                                 \
        }                                                                              \
        if (DIRECT) {                                                                  \
            _mm_prefetch((const char *)(b + pf), _MM_HINT_T0);                         \
            _mm_prefetch((const char *)(b + pf + 31), _MM_HINT_T0);                    \
        } else {                                                                       \
            _mm_prefetch((const char *)(b + pfb * 32), _MM_HINT_T0);                   \
            _mm_prefetch((const char *)(b + pfb * 32 + 16), _MM_HINT_T0);              \
        }                                                                              \
        for (int i = 0; i < R; i++) {                                                  \
            __m512 av = _mm512_set1_ps(DA ? a[i * lda] : a[i]);                        \
            acc[s][i][0] = _mm512_fmadd_ps(av, b0, acc[s][i][0]);                      \
            if (NV == 2) acc[s][i][1] = _mm512_fmadd_ps(av, b1, acc[s][i][1]);         \
        }                                                                              \
        a += DA ? 1 : R;                                                               \
        b += ldb;                                                                      \
    } while (0)

    const ptrdiff_t pf = ep->prefetch;
    const int pfb = R <= 2 ? F_PF_B_STREAM : F_PF_B;
    size_t p = 0;
    if (S > 1)
        for (; p + S <= kc; p += S)
            for (int s = 0; s < S; s++) F512_STEP(s);
    for (; p < kc; p++) F512_STEP(0);
#undef F512_STEP

    for (int s = 1; s < S; s++)
        for (int i = 0; i < R; i++) {
            acc[0][i][0] = _mm512_add_ps(acc[0][i][0], acc[s][i][0]);
            if (NV == 2) acc[0][i][1] = _mm512_add_ps(acc[0][i][1], acc[s][i][1]);
        }

    const uint32_t fl = ep->flags;
    __m512 bc0 = _mm512_setzero_ps(), bc1 = _mm512_setzero_ps();
    if (fl & FRUGAL_SGEMM_BIAS_COL) {
        bc0 = _mm512_maskz_loadu_ps(m0, ep->bias);
        if (NV == 2) bc1 = _mm512_maskz_loadu_ps(m1, ep->bias + 16);
    }
    const __m512 lo = _mm512_set1_ps(ep->lo), hi = _mm512_set1_ps(ep->hi);
    for (int i = 0; i < R; i++) {
        float *ci = c + i * ldc;
        __m512 x0 = acc[0][i][0], x1 = acc[0][i][1];
        if (fl & FRUGAL_SGEMM_ACCUMULATE) {
            x0 = _mm512_add_ps(x0, _mm512_maskz_loadu_ps(m0, ci));
            if (NV == 2) x1 = _mm512_add_ps(x1, _mm512_maskz_loadu_ps(m1, ci + 16));
        }
        if (fl & FRUGAL_SGEMM_BIAS_COL) {
            x0 = _mm512_add_ps(x0, bc0);
            x1 = _mm512_add_ps(x1, bc1);
        }
        if (fl & FRUGAL_SGEMM_BIAS_ROW) {
            __m512 br = _mm512_set1_ps(ep->bias[i]);
            x0 = _mm512_add_ps(x0, br);
            x1 = _mm512_add_ps(x1, br);
        }
        if (fl & FRUGAL_SGEMM_CLAMP) {
            x0 = _mm512_min_ps(_mm512_max_ps(x0, lo), hi);
            x1 = _mm512_min_ps(_mm512_max_ps(x1, lo), hi);
        }
        _mm512_mask_storeu_ps(ci, m0, x0);
        if (NV == 2) _mm512_mask_storeu_ps(ci + 16, m1, x1);
    }
}

// One instantiation per (rows, k splits), per width (one vector when nr <= 16, two
// otherwise), per B source (packed, direct full, direct edge) and per A source (DA).
#define F512_CASE(R, S, DA)                                                             \
    case R:                                                                             \
        if (nr <= 16) {                                                                 \
            if (!direct) f512_tile(R, S, 1, 0, 0, DA, nr, kc, a, lda, b, ldb, c, ldc, ep); \
            else f512_tile(R, S, 1, 1, 1, DA, nr, kc, a, lda, b, ldb, c, ldc, ep);      \
        } else if (!direct) f512_tile(R, S, 2, 0, 0, DA, nr, kc, a, lda, b, ldb, c, ldc, ep); \
        else if (nr == 32) f512_tile(R, S, 2, 1, 0, DA, nr, kc, a, lda, b, ldb, c, ldc, ep); \
        else f512_tile(R, S, 2, 1, 1, DA, nr, kc, a, lda, b, ldb, c, ldc, ep);          \
        break;

#define F512_ROWS(DA)                                                                   \
    switch (mr) {                                                                       \
        F512_CASE(1, 4, DA)                                                             \
        F512_CASE(2, 2, DA)                                                             \
        F512_CASE(3, 2, DA)                                                             \
        F512_CASE(4, 1, DA)                                                             \
        F512_CASE(5, 1, DA)                                                             \
        F512_CASE(6, 1, DA)                                                             \
        F512_CASE(7, 1, DA)                                                             \
        F512_CASE(8, 1, DA)                                                             \
        F512_CASE(9, 1, DA)                                                             \
        F512_CASE(10, 1, DA)                                                            \
        F512_CASE(11, 1, DA)                                                            \
        F512_CASE(12, 1, DA)                                                            \
    default: break;                                                                     \
    }

F_T512 void frugal_sgemm_kernel_avx512(size_t mr, size_t nr, size_t kc, const float *a,
                                       const float *b, size_t ldb, float *c, size_t ldc,
                                       const frugal_sgemm_epilogue *ep) {
    const int direct = (ep->flags & FRUGAL_SGEMM_DIRECT_B) != 0;
    const size_t lda = 0;
    F512_ROWS(0)
}

F_T512 void frugal_sgemm_kernel_avx512_da(size_t mr, size_t nr, size_t kc, const float *a,
                                          size_t lda, const float *b, size_t ldb, float *c,
                                          size_t ldc, const frugal_sgemm_epilogue *ep) {
    const int direct = (ep->flags & FRUGAL_SGEMM_DIRECT_B) != 0;
    F512_ROWS(1)
}
#undef F512_ROWS
#undef F512_CASE

// Dot products for few rows x transposed B: R x C accumulators of 16 lanes along k, the k
// tail by masked loads, then one horizontal sum per element.
F_INL F_T512 void f512_dot(const int R, const int C, size_t k, const float *a, size_t lda,
                           const float *b, size_t ldb, float *c, size_t ldc,
                           const frugal_sgemm_epilogue *ep) {
    __m512 acc[R][C];
    for (int i = 0; i < R; i++)
        for (int j = 0; j < C; j++) acc[i][j] = _mm512_setzero_ps();
    size_t p = 0;
    for (; p + 16 <= k; p += 16) {
        __m512 bv[C];
        for (int j = 0; j < C; j++) bv[j] = _mm512_loadu_ps(b + j * ldb + p);
        for (int i = 0; i < R; i++) {
            __m512 av = _mm512_loadu_ps(a + i * lda + p);
            for (int j = 0; j < C; j++) acc[i][j] = _mm512_fmadd_ps(av, bv[j], acc[i][j]);
        }
    }
    if (p < k) {
        const __mmask16 m = f512_mask(k - p);
        __m512 bv[C];
        for (int j = 0; j < C; j++) bv[j] = _mm512_maskz_loadu_ps(m, b + j * ldb + p);
        for (int i = 0; i < R; i++) {
            __m512 av = _mm512_maskz_loadu_ps(m, a + i * lda + p);
            for (int j = 0; j < C; j++) acc[i][j] = _mm512_fmadd_ps(av, bv[j], acc[i][j]);
        }
    }
    for (int i = 0; i < R; i++)
        for (int j = 0; j < C; j++) {
            float *cij = c + i * ldc + j;
            *cij = frugal_sgemm_epilogue_one(_mm512_reduce_add_ps(acc[i][j]), cij, i, j, ep);
        }
}

#define F512_DOT_ROW(R)                                                                 \
    case R:                                                                             \
        switch (nr) {                                                                   \
        case 1: f512_dot(R, 1, k, a, lda, b, ldb, c, ldc, ep); break;                   \
        case 2: f512_dot(R, 2, k, a, lda, b, ldb, c, ldc, ep); break;                   \
        case 3: f512_dot(R, 3, k, a, lda, b, ldb, c, ldc, ep); break;                   \
        default: f512_dot(R, 4, k, a, lda, b, ldb, c, ldc, ep); break;                  \
        }                                                                               \
        break;

F_T512 void frugal_sgemm_dot_avx512(size_t mr, size_t nr, size_t k, const float *a,
                                    size_t lda, const float *b, size_t ldb, float *c,
                                    size_t ldc, const frugal_sgemm_epilogue *ep) {
    switch (mr) {
        F512_DOT_ROW(1)
        F512_DOT_ROW(2)
        F512_DOT_ROW(3)
        F512_DOT_ROW(4)
    default: break;
    }
}
#undef F512_DOT_ROW

#else
// Not x86-64: the symbols exist so that Swift links everywhere; they are never selected.
void frugal_sgemm_dot_avx512(size_t mr, size_t nr, size_t k, const float *a, size_t lda,
                             const float *b, size_t ldb, float *c, size_t ldc,
                             const frugal_sgemm_epilogue *ep) {
    frugal_sgemm_dot_portable(mr, nr, k, a, lda, b, ldb, c, ldc, ep);
}
void frugal_sgemm_kernel_avx512(size_t mr, size_t nr, size_t kc, const float *a,
                                const float *b, size_t ldb, float *c, size_t ldc,
                                const frugal_sgemm_epilogue *ep) {
    frugal_sgemm_kernel_portable(mr, nr, kc, a, b, ldb, c, ldc, ep);
}
void frugal_sgemm_kernel_avx512_da(size_t mr, size_t nr, size_t kc, const float *a, size_t lda,
                                   const float *b, size_t ldb, float *c, size_t ldc,
                                   const frugal_sgemm_epilogue *ep) {
    // Never selected off x86-64; a plain loop keeps the symbol correct anyway.
    for (size_t i = 0; i < mr; i++)
        for (size_t j = 0; j < nr; j++) {
            float x = 0;
            for (size_t p = 0; p < kc; p++) x += a[i * lda + p] * b[p * ldb + j];
            c[i * ldc + j] = frugal_sgemm_epilogue_one(x, c + i * ldc + j, i, j, ep);
        }
}
#endif
