// fp32 GEMM micro-kernel in plain C (any CPU): tiles of up to 4 rows x 16 columns.
//
// 4 x 16 accumulators are 64 floats, i.e. 16 NEON / SSE registers: the compiler vectorises
// the 16-wide inner loops with whatever baseline SIMD the target has.
#include "frugal_sgemm.h"

#define FP_MR 4
#define FP_NR 16

static inline __attribute__((always_inline)) void fp_tile(const int R, const int FULL, size_t nr,
                                                          size_t kc, const float *a,
                                                          const float *b, size_t ldb, float *c,
                                                          size_t ldc,
                                                          const frugal_sgemm_epilogue *ep) {
    float acc[FP_MR][FP_NR];
    for (int i = 0; i < R; i++)
        for (int j = 0; j < FP_NR; j++) acc[i][j] = 0.0f;
    for (size_t p = 0; p < kc; p++) {
        if (FULL) {
            for (int i = 0; i < R; i++) {
                const float av = a[i];
                for (int j = 0; j < FP_NR; j++) acc[i][j] += av * b[j];
            }
        } else {
            for (int i = 0; i < R; i++) {
                const float av = a[i];
                for (size_t j = 0; j < nr; j++) acc[i][j] += av * b[j];
            }
        }
        a += R;
        b += ldb;
    }
    const uint32_t fl = ep->flags;
    for (int i = 0; i < R; i++) {
        float *ci = c + i * ldc;
        for (size_t j = 0; j < nr; j++) {
            float x = acc[i][j];
            if (fl & FRUGAL_SGEMM_ACCUMULATE) x += ci[j];
            if (fl & FRUGAL_SGEMM_BIAS_COL) x += ep->bias[j];
            if (fl & FRUGAL_SGEMM_BIAS_ROW) x += ep->bias[i];
            if (fl & FRUGAL_SGEMM_CLAMP) {
                x = x < ep->lo ? ep->lo : x;
                x = x > ep->hi ? ep->hi : x;
            }
            ci[j] = x;
        }
    }
}

void frugal_sgemm_kernel_portable(size_t mr, size_t nr, size_t kc, const float *a,
                                  const float *b, size_t ldb, float *c, size_t ldc,
                                  const frugal_sgemm_epilogue *ep) {
    // Packed panels are zero padded to 16 columns, so only the caller's own B needs the
    // partial loop.
    const int full = nr == FP_NR || !(ep->flags & FRUGAL_SGEMM_DIRECT_B);
    switch (mr) {
    case 1: if (full) fp_tile(1, 1, nr, kc, a, b, ldb, c, ldc, ep); else fp_tile(1, 0, nr, kc, a, b, ldb, c, ldc, ep); break;
    case 2: if (full) fp_tile(2, 1, nr, kc, a, b, ldb, c, ldc, ep); else fp_tile(2, 0, nr, kc, a, b, ldb, c, ldc, ep); break;
    case 3: if (full) fp_tile(3, 1, nr, kc, a, b, ldb, c, ldc, ep); else fp_tile(3, 0, nr, kc, a, b, ldb, c, ldc, ep); break;
    case 4: if (full) fp_tile(4, 1, nr, kc, a, b, ldb, c, ldc, ep); else fp_tile(4, 0, nr, kc, a, b, ldb, c, ldc, ep); break;
    default: break;
    }
}

// Dot products for few rows x transposed B, 8 partial sums per element so that the
// compiler can vectorise the k loop without reassociating.
void frugal_sgemm_dot_portable(size_t mr, size_t nr, size_t k, const float *a, size_t lda,
                               const float *b, size_t ldb, float *c, size_t ldc,
                               const frugal_sgemm_epilogue *ep) {
    for (size_t i = 0; i < mr; i++) {
        for (size_t j = 0; j < nr; j++) {
            const float *ai = a + i * lda, *bj = b + j * ldb;
            float part[8] = {0, 0, 0, 0, 0, 0, 0, 0};
            size_t p = 0;
            for (; p + 8 <= k; p += 8)
                for (int u = 0; u < 8; u++) part[u] += ai[p + u] * bj[p + u];
            float x = 0;
            for (; p < k; p++) x += ai[p] * bj[p];
            for (int u = 0; u < 8; u++) x += part[u];
            float *cij = c + i * ldc + j;
            *cij = frugal_sgemm_epilogue_one(x, cij, i, j, ep);
        }
    }
}
