// fp32 GEMM micro-kernel for AVX-512 with the rows of C in the vector lanes: tiles of up
// to 32 rows x 12 columns, for products with few columns (1x1 convolutions on 7x7 maps:
// 49 positions fill only 77 % of 16-lane vectors laid along the columns, while the output
// channels are multiples of 16).
//
// Each k step loads 32 rows of the packed A^T panel (two vectors) and broadcasts up to 12
// elements of a row of the caller's B straight from memory, 2 x 12 FMAs into 24 zmm
// accumulators, as the column-lane kernel does with the roles swapped. The accumulators
// hold the tile transposed (one vector per column of C); the epilogue writes them to a
// stack buffer and gathers each row of C back out of it (one masked gather per row), so C
// is written in place with masked row stores.
#include "frugal_sgemm.h"

#if defined(__x86_64__)
#include <immintrin.h>

#define T_T512 __attribute__((target("avx512f,avx512bw,avx512dq,avx512vl,fma")))
#define T_INL static inline __attribute__((always_inline))

// The packed A^T panel streams from L2 (32 floats per k step): prefetch 16 k steps ahead.
// A panel that comes from L3 (a batch-1 layer's weights, read once per run) is fetched much
// slower than the FMAs consume it, so the driver also passes `next`: a part of the panel
// that its following tiles will read, pulled into L2 at one line per two k steps while this
// tile computes (1x1 conv 320 -> 1280 on 7x7, weights from L3: ~8 % faster in isolation).
#define T_PF_A 16

T_INL T_T512 void t512_tile(const int R, const int S, const int NV, size_t mr, size_t kc,
                            const float *a, const float *b, size_t ldb, float *c, size_t ldc,
                            const frugal_sgemm_epilogue *ep, const float *next) {
    __m512 acc[S][R][2];
    for (int s = 0; s < S; s++)
        for (int j = 0; j < R; j++) {
            acc[s][j][0] = _mm512_setzero_ps();
            acc[s][j][1] = _mm512_setzero_ps();
        }
    const ptrdiff_t pf = ep->prefetch;
    // A residual in C is read back by the epilogue: start fetching its rows now.
    if (ep->flags & FRUGAL_SGEMM_ACCUMULATE)
        for (size_t r = 0; r < mr; r++) {
            _mm_prefetch((const char *)(c + r * ldc), _MM_HINT_T0);
            _mm_prefetch((const char *)(c + r * ldc + R - 1), _MM_HINT_T0);
        }

#define T512_STEP(s)                                                                   \
    do {                                                                               \
        const __m512 a0 = _mm512_loadu_ps(a);                                          \
        const __m512 a1 = NV == 2 ? _mm512_loadu_ps(a + 16) : _mm512_setzero_ps();     \
        _mm_prefetch((const char *)(a + T_PF_A * 32), _MM_HINT_T0);                    \
        if (NV == 2) _mm_prefetch((const char *)(a + T_PF_A * 32 + 16), _MM_HINT_T0);  \
        if (pf) {                                                                      \
            _mm_prefetch((const char *)(b + pf), _MM_HINT_T0);                         \
            _mm_prefetch((const char *)(b + pf + R - 1), _MM_HINT_T0);                 \
        }                                                                              \
        if (next) {                                                                    \
            _mm_prefetch((const char *)next, _MM_HINT_T1);                             \
            next += 8;                                                                 \
        }                                                                              \
        for (int j = 0; j < R; j++) {                                                  \
            const __m512 bv = _mm512_set1_ps(b[j]);                                    \
            acc[s][j][0] = _mm512_fmadd_ps(bv, a0, acc[s][j][0]);                      \
            if (NV == 2) acc[s][j][1] = _mm512_fmadd_ps(bv, a1, acc[s][j][1]);         \
        }                                                                              \
        a += 32;                                                                       \
        b += ldb;                                                                      \
    } while (0)

    size_t p = 0;
    if (S > 1)
        for (; p + S <= kc; p += S)
            for (int s = 0; s < S; s++) T512_STEP(s);
    for (; p < kc; p++) T512_STEP(0);
#undef T512_STEP

    for (int s = 1; s < S; s++)
        for (int j = 0; j < R; j++) {
            acc[0][j][0] = _mm512_add_ps(acc[0][j][0], acc[s][j][0]);
            if (NV == 2) acc[0][j][1] = _mm512_add_ps(acc[0][j][1], acc[s][j][1]);
        }

    // tmp[j * 32 + r] = tile element (r, j); row r of C is then a gather with stride 32.
    float tmp[R * 32] __attribute__((aligned(64)));
    for (int j = 0; j < R; j++) {
        _mm512_store_ps(tmp + j * 32, acc[0][j][0]);
        if (NV == 2) _mm512_store_ps(tmp + j * 32 + 16, acc[0][j][1]);
    }
    const __m512i idx = _mm512_set_epi32(480, 448, 416, 384, 352, 320, 288, 256, 224, 192, 160,
                                         128, 96, 64, 32, 0);
    const __mmask16 mj = (__mmask16)((1u << R) - 1u);
    const uint32_t fl = ep->flags;
    const __m512 lo = _mm512_set1_ps(ep->lo), hi = _mm512_set1_ps(ep->hi);
    const __m512 bc = (fl & FRUGAL_SGEMM_BIAS_COL) ? _mm512_maskz_loadu_ps(mj, ep->bias) : _mm512_setzero_ps();
    for (size_t r = 0; r < mr; r++) {
        float *cr = c + r * ldc;
        __m512 x = _mm512_mask_i32gather_ps(_mm512_setzero_ps(), mj, idx, tmp + r, 4);
        if (fl & FRUGAL_SGEMM_ACCUMULATE) x = _mm512_add_ps(x, _mm512_maskz_loadu_ps(mj, cr));
        if (fl & FRUGAL_SGEMM_BIAS_ROW) x = _mm512_add_ps(x, _mm512_set1_ps(ep->bias[r]));
        if (fl & FRUGAL_SGEMM_BIAS_COL) x = _mm512_add_ps(x, bc);
        if (fl & FRUGAL_SGEMM_CLAMP) x = _mm512_min_ps(_mm512_max_ps(x, lo), hi);
        _mm512_mask_storeu_ps(cr, mj, x);
    }
}

#define T512_CASE(R, S)                                                                 \
    case R:                                                                             \
        if (mr <= 16) t512_tile(R, S, 1, mr, kc, a, b, ldb, c, ldc, ep, next);          \
        else t512_tile(R, S, 2, mr, kc, a, b, ldb, c, ldc, ep, next);                   \
        break;

T_T512 void frugal_sgemm_kernel_t_avx512(size_t mr, size_t nr, size_t kc, const float *a,
                                         const float *b, size_t ldb, float *c, size_t ldc,
                                         const frugal_sgemm_epilogue *ep, const float *next) {
    switch (nr) {
        T512_CASE(1, 4)
        T512_CASE(2, 2)
        T512_CASE(3, 2)
        T512_CASE(4, 1)
        T512_CASE(5, 1)
        T512_CASE(6, 1)
        T512_CASE(7, 1)
        T512_CASE(8, 1)
        T512_CASE(9, 1)
        T512_CASE(10, 1)
        T512_CASE(11, 1)
        T512_CASE(12, 1)
    default: break;
    }
}
#undef T512_CASE

#else
// Not x86-64: the symbol exists so that Swift links everywhere; it is never selected.
void frugal_sgemm_kernel_t_avx512(size_t mr, size_t nr, size_t kc, const float *a,
                                  const float *b, size_t ldb, float *c, size_t ldc,
                                  const frugal_sgemm_epilogue *ep, const float *next) {
    frugal_sgemm_kernel_t_portable(mr, nr, kc, a, b, ldb, c, ldc, ep, next);
}
#endif
