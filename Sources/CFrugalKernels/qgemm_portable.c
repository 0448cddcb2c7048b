// Portable int8 GEMM micro-kernel and requantization row (plain C; also the ARM path).
#include "CFrugalKernels.h"
#include <string.h>

enum { MR = FRUGAL_QGEMM_PORTABLE_MR, NR = FRUGAL_QGEMM_PORTABLE_NR };

// Written for auto-vectorisation: a uint8 x int8 product fits in int16 (-32640...32385), so
// per k-quad the B bytes are split into four int16 rows and every row of the tile does
// 16-bit multiplies (pmullw, NEON smull) widened into 32-bit accumulators.
static inline __attribute__((always_inline)) void portable_tile(
    const int ROWS, size_t kq, const uint8_t *a, size_t lda, const int8_t *b, int32_t *c,
    size_t ldc, size_t nr, uint32_t flags) {
    const int direct = (flags & FRUGAL_QGEMM_DIRECT_A) != 0;
    const size_t rs = direct ? lda : 4, qs = direct ? 4 : 4 * (size_t)ROWS;
    // Unsigned accumulators: int32 wrap-around without undefined behaviour.
    uint32_t acc[MR][NR];
    memset(acc, 0, sizeof acc);
    for (size_t q = 0; q < kq; q++) {
        const int8_t *bq = b + q * NR * 4;
        int16_t b0[NR], b1[NR], b2[NR], b3[NR];
        for (size_t j = 0; j < NR; j++) {
            b0[j] = bq[4 * j];
            b1[j] = bq[4 * j + 1];
            b2[j] = bq[4 * j + 2];
            b3[j] = bq[4 * j + 3];
        }
        for (int i = 0; i < ROWS; i++) {
            const uint8_t *ai = a + (size_t)i * rs;
            const int16_t a0 = ai[0], a1 = ai[1], a2 = ai[2], a3 = ai[3];
            for (size_t j = 0; j < NR; j++) {
                int32_t s = (int32_t)(int16_t)(a0 * b0[j]) + (int32_t)(int16_t)(a1 * b1[j]) +
                            (int32_t)(int16_t)(a2 * b2[j]) + (int32_t)(int16_t)(a3 * b3[j]);
                acc[i][j] += (uint32_t)s;
            }
        }
        a += qs;
    }
    for (int i = 0; i < ROWS; i++) {
        int32_t *ci = c + (size_t)i * ldc;
        for (size_t j = 0; j < nr; j++) {
            uint32_t v = acc[i][j];
            if (flags & FRUGAL_QGEMM_ACCUMULATE) v += (uint32_t)ci[j];
            ci[j] = (int32_t)v;
        }
    }
}

void frugal_qgemm_kernel_portable(size_t mr, size_t nr, size_t kq, const uint8_t *a,
                                  size_t lda, const int8_t *b, int32_t *c, size_t ldc, uint32_t flags) {
    switch (mr) {
    case 4: portable_tile(4, kq, a, lda, b, c, ldc, nr, flags); break;
    case 3: portable_tile(3, kq, a, lda, b, c, ldc, nr, flags); break;
    case 2: portable_tile(2, kq, a, lda, b, c, ldc, nr, flags); break;
    case 1: portable_tile(1, kq, a, lda, b, c, ldc, nr, flags); break;
    default: break;
    }
}

// gemmlowp's SaturatingRoundingDoublingHighMul. The nudge-then-truncating-division of the
// reference is the same as (ab + 2^30) >> 31 with an arithmetic shift.
static inline int32_t srdhm(int32_t a, int32_t b) {
    if (a == INT32_MIN && b == INT32_MIN) return INT32_MAX;
    int64_t ab = (int64_t)a * (int64_t)b;
    return (int32_t)((ab + ((int64_t)1 << 30)) >> 31);
}

// gemmlowp's RoundingDivideByPOT: x / 2^e rounded to nearest, ties away from zero.
static inline int32_t rdbpot(int32_t x, int32_t e) {
    int32_t mask = (int32_t)((1u << e) - 1u);
    int32_t rem = x & mask;
    int32_t thr = (mask >> 1) + (x < 0 ? 1 : 0);
    return (x >> e) + (rem > thr ? 1 : 0);
}

static inline int32_t sat_shl(int32_t x, int32_t l) {
    if (x > (INT32_MAX >> l)) return INT32_MAX;
    if (x < (INT32_MIN >> l)) return INT32_MIN;
    return (int32_t)((uint32_t)x << l);
}

void frugal_requant_row_portable(const int32_t *acc, size_t n, int32_t row_offset,
                                 int32_t row_sum, const frugal_requant_params *p, void *dst) {
    for (size_t j = 0; j < n; j++) {
        uint32_t u = (uint32_t)acc[j] + (uint32_t)row_offset;
        if (p->col_offset) u += (uint32_t)p->col_offset[j];
        if (p->col_zero) u -= (uint32_t)row_sum * (uint32_t)p->col_zero[j];
        size_t ch = p->per_channel ? j : 0;
        int32_t v = sat_shl((int32_t)u, p->lshift[ch]);
        v = srdhm(v, p->multiplier[ch]);
        v = rdbpot(v, p->rshift[ch]);
        int64_t o = (int64_t)v + p->zero_point;
        if (o < p->qmin) o = p->qmin;
        if (o > p->qmax) o = p->qmax;
        if (p->out_signed) ((int8_t *)dst)[j] = (int8_t)o;
        else ((uint8_t *)dst)[j] = (uint8_t)o;
    }
}
