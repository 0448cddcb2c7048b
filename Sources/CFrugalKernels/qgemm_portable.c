// Portable int8 GEMM micro-kernel and requantization row (plain C; also the ARM path).
#include "CFrugalKernels.h"
#include <string.h>

enum { MR = FRUGAL_QGEMM_PORTABLE_MR, NR = FRUGAL_QGEMM_PORTABLE_NR };

void frugal_qgemm_kernel_portable(size_t mr, size_t nr, size_t kq, const uint8_t *a,
                                  const int8_t *b, int32_t *c, size_t ldc, uint32_t flags) {
    // Unsigned accumulators: int32 wrap-around without undefined behaviour.
    uint32_t acc[MR][NR];
    memset(acc, 0, sizeof acc);
    for (size_t q = 0; q < kq; q++) {
        const uint8_t *aq = a + q * mr * 4;
        const int8_t *bq = b + q * NR * 4;
        for (size_t i = 0; i < mr; i++) {
            int32_t a0 = aq[4 * i], a1 = aq[4 * i + 1], a2 = aq[4 * i + 2], a3 = aq[4 * i + 3];
            for (size_t j = 0; j < NR; j++) {
                int32_t s = a0 * bq[4 * j] + a1 * bq[4 * j + 1] + a2 * bq[4 * j + 2] +
                            a3 * bq[4 * j + 3];
                acc[i][j] += (uint32_t)s;
            }
        }
    }
    for (size_t i = 0; i < mr; i++) {
        int32_t *ci = c + i * ldc;
        for (size_t j = 0; j < nr; j++) {
            uint32_t v = acc[i][j];
            if (flags & FRUGAL_QGEMM_ACCUMULATE) v += (uint32_t)ci[j];
            ci[j] = (int32_t)v;
        }
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
