// AVX-512 VNNI int8 GEMM micro-kernel (vpdpbusd, 12 x 32 tile) and AVX-512 requantization row.
#include "CFrugalKernels.h"

#if defined(__x86_64__)
#include <immintrin.h>
#include <string.h>

#define VNNI __attribute__((target("avx512f,avx512bw,avx512vl,avx512vnni")))
#define AVX512 __attribute__((target("avx512f,avx512bw,avx512dq,avx512vl")))
#define INLINE static inline __attribute__((always_inline))
#define UNROLL _Pragma("clang loop unroll(full)")

enum { MR = FRUGAL_QGEMM_VNNI_MR, NR = FRUGAL_QGEMM_VNNI_NR };

// One tile with a compile-time row count (the switch below instantiates 1...12), so the
// 2 x ROWS accumulators live in zmm registers. Per k-quad: two 64-byte loads of B (32
// columns x 4 k), then per row one 4-byte broadcast of A and two vpdpbusd.
// NV = 1 handles tiles of at most 16 columns with one vector per row (half the work).
// DIRECT reads A rows in place (row stride lda) instead of a packed panel.
INLINE VNNI void vnni_tile(const int ROWS, const int NV, const int DIRECT, size_t kq,
                           const uint8_t *a, size_t lda, const int8_t *b, int32_t *c,
                           size_t ldc, __mmask16 m0, __mmask16 m1, uint32_t flags) {
    __m512i acc0[MR], acc1[MR];
    UNROLL
    for (int r = 0; r < ROWS; r++) {
        acc0[r] = _mm512_setzero_si512();
        acc1[r] = _mm512_setzero_si512();
    }
    for (size_t q = 0; q < kq; q++) {
        __m512i b0 = _mm512_load_si512((const void *)b);
        __m512i b1 = NV == 2 ? _mm512_load_si512((const void *)(b + 64)) : b0;
        UNROLL
        for (int r = 0; r < ROWS; r++) {
            int32_t w;
            memcpy(&w, DIRECT ? a + (size_t)r * lda : a + 4 * r, 4);
            __m512i av = _mm512_set1_epi32(w);
            acc0[r] = _mm512_dpbusd_epi32(acc0[r], av, b0);
            if (NV == 2) acc1[r] = _mm512_dpbusd_epi32(acc1[r], av, b1);
        }
        a += DIRECT ? 4 : 4 * ROWS;
        b += 4 * NR;
    }
    UNROLL
    for (int r = 0; r < ROWS; r++) {
        int32_t *cr = c + (size_t)r * ldc;
        __m512i v0 = acc0[r], v1 = acc1[r];
        if (flags & FRUGAL_QGEMM_ACCUMULATE) {
            v0 = _mm512_add_epi32(v0, _mm512_maskz_loadu_epi32(m0, cr));
            if (NV == 2) v1 = _mm512_add_epi32(v1, _mm512_maskz_loadu_epi32(m1, cr + 16));
        }
        _mm512_mask_storeu_epi32(cr, m0, v0);
        if (NV == 2) _mm512_mask_storeu_epi32(cr + 16, m1, v1);
    }
}

VNNI void frugal_qgemm_kernel_vnni(size_t mr, size_t nr, size_t kq, const uint8_t *a,
                                   size_t lda, const int8_t *b, int32_t *c, size_t ldc,
                                   uint32_t flags) {
    __mmask16 m0 = nr >= 16 ? (__mmask16)0xFFFF : (__mmask16)((1u << nr) - 1u);
    __mmask16 m1 = nr >= 32 ? (__mmask16)0xFFFF
                 : nr > 16  ? (__mmask16)((1u << (nr - 16)) - 1u) : (__mmask16)0;
#define VNNI_ROWS(NV, D)                                                          \
    switch (mr) {                                                                 \
    case 12: vnni_tile(12, NV, D, kq, a, lda, b, c, ldc, m0, m1, flags); break;           \
    case 11: vnni_tile(11, NV, D, kq, a, lda, b, c, ldc, m0, m1, flags); break;           \
    case 10: vnni_tile(10, NV, D, kq, a, lda, b, c, ldc, m0, m1, flags); break;           \
    case 9: vnni_tile(9, NV, D, kq, a, lda, b, c, ldc, m0, m1, flags); break;             \
    case 8: vnni_tile(8, NV, D, kq, a, lda, b, c, ldc, m0, m1, flags); break;             \
    case 7: vnni_tile(7, NV, D, kq, a, lda, b, c, ldc, m0, m1, flags); break;             \
    case 6: vnni_tile(6, NV, D, kq, a, lda, b, c, ldc, m0, m1, flags); break;             \
    case 5: vnni_tile(5, NV, D, kq, a, lda, b, c, ldc, m0, m1, flags); break;             \
    case 4: vnni_tile(4, NV, D, kq, a, lda, b, c, ldc, m0, m1, flags); break;             \
    case 3: vnni_tile(3, NV, D, kq, a, lda, b, c, ldc, m0, m1, flags); break;             \
    case 2: vnni_tile(2, NV, D, kq, a, lda, b, c, ldc, m0, m1, flags); break;             \
    case 1: vnni_tile(1, NV, D, kq, a, lda, b, c, ldc, m0, m1, flags); break;             \
    default: break;                                                               \
    }
    if (flags & FRUGAL_QGEMM_DIRECT_A) {
        if (nr > 16) { VNNI_ROWS(2, 1) } else { VNNI_ROWS(1, 1) }
    } else {
        if (nr > 16) { VNNI_ROWS(2, 0) } else { VNNI_ROWS(1, 0) }
    }
}

// Requantization of one row, 16 lanes at a time (see frugal_qgemm.h for the formula).
// PER_CHANNEL and LSHIFT are compile-time so the per-tensor / right-shift-only cases
// (the common ones) keep every parameter in registers and skip the saturating left shift.
INLINE AVX512 void requant_row_avx512(const int PER_CHANNEL, const int LSHIFT, const int32_t *acc,
                                      size_t n, int32_t row_offset, int32_t row_sum,
                                      const frugal_requant_params *p, void *dst) {
    const __m512i one = _mm512_set1_epi32(1);
    const __m512i i32max = _mm512_set1_epi32(INT32_MAX), i32min = _mm512_set1_epi32(INT32_MIN);
    const __m512i half = _mm512_set1_epi64((int64_t)1 << 30);
    const __m512i vrow = _mm512_set1_epi32(row_sum);
    const __m512i vrowoff = _mm512_set1_epi32(row_offset);
    const __m512i vzp = _mm512_set1_epi32(p->zero_point);
    // Clamp before adding the zero point, so the addition cannot wrap.
    const __m512i vlo = _mm512_set1_epi32(p->qmin - p->zero_point);
    const __m512i vhi = _mm512_set1_epi32(p->qmax - p->zero_point);
    __m512i vm = _mm512_set1_epi32(p->multiplier[0]);
    __m512i vl = _mm512_set1_epi32(p->lshift[0]);
    __m512i vr = _mm512_set1_epi32(p->rshift[0]);
    __m512i mask = _mm512_sub_epi32(_mm512_sllv_epi32(one, vr), one);
    __m512i halfmask = _mm512_srai_epi32(mask, 1);
    __m512i vmodd = _mm512_srli_epi64(vm, 32);
    // Locals: the byte stores below may alias anything, so nothing is re-read from *p.
    const int32_t *col_offset = p->col_offset, *col_zero = p->col_zero;
    const int32_t *mult = p->multiplier, *lsh = p->lshift, *rsh = p->rshift, *rmk = p->rmask;
    uint8_t *out = (uint8_t *)dst;
    for (size_t j = 0; j < n; j += 16) {
        __mmask16 k = n - j >= 16 ? (__mmask16)0xFFFF : (__mmask16)((1u << (n - j)) - 1u);
        __m512i v = _mm512_add_epi32(_mm512_maskz_loadu_epi32(k, acc + j), vrowoff);
        if (col_offset) v = _mm512_add_epi32(v, _mm512_maskz_loadu_epi32(k, col_offset + j));
        if (col_zero)
            v = _mm512_sub_epi32(v, _mm512_mullo_epi32(vrow, _mm512_maskz_loadu_epi32(k, col_zero + j)));
        if (PER_CHANNEL) {
            // Tables instead of arithmetic: loads are cheaper than port-0/5 vector ops here.
            vm = _mm512_maskz_loadu_epi32(k, mult + j);
            vmodd = _mm512_maskz_loadu_epi32(k, mult + j + 1);
            vr = _mm512_maskz_loadu_epi32(k, rsh + j);
            mask = _mm512_maskz_loadu_epi32(k, rmk + j);
            halfmask = _mm512_srai_epi32(mask, 1);
            if (LSHIFT) vl = _mm512_maskz_loadu_epi32(k, lsh + j);
        }
        if (LSHIFT) {  // saturating left shift
            v = _mm512_max_epi32(v, _mm512_srav_epi32(i32min, vl));
            v = _mm512_min_epi32(v, _mm512_srav_epi32(i32max, vl));
            v = _mm512_sllv_epi32(v, vl);
        }
        // SaturatingRoundingDoublingHighMul = (v * m + 2^30) >> 31 (m is never INT32_MIN).
        __m512i pe = _mm512_add_epi64(_mm512_mul_epi32(v, vm), half);
        __m512i po = _mm512_add_epi64(_mm512_mul_epi32(_mm512_srli_epi64(v, 32), vmodd), half);
        pe = _mm512_srli_epi64(pe, 31);  // low dword: bits 31..62
        po = _mm512_slli_epi64(po, 1);   // high dword: bits 31..62
        v = _mm512_mask_blend_epi32((__mmask16)0xAAAA, pe, po);
        // RoundingDivideByPOT: ties away from zero.
        __m512i rem = _mm512_and_si512(v, mask);
        __m512i thr = _mm512_add_epi32(halfmask, _mm512_srli_epi32(v, 31));
        __mmask16 up = _mm512_cmpgt_epi32_mask(rem, thr);
        v = _mm512_srav_epi32(v, vr);
        v = _mm512_mask_add_epi32(v, up, v, one);
        v = _mm512_add_epi32(_mm512_min_epi32(_mm512_max_epi32(v, vlo), vhi), vzp);
        // vpmovdb to a register, then a plain store (the masked memory form is slow).
        __m128i bytes = _mm512_cvtepi32_epi8(v);
        if (k == 0xFFFF) _mm_storeu_si128((__m128i *)(out + j), bytes);
        else _mm_mask_storeu_epi8(out + j, k, bytes);
    }
}

AVX512 void frugal_requant_row_avx512(const int32_t *acc, size_t n, int32_t row_offset,
                                      int32_t row_sum, const frugal_requant_params *p, void *dst) {
    if (p->per_channel) {
        if (p->any_lshift) requant_row_avx512(1, 1, acc, n, row_offset, row_sum, p, dst);
        else requant_row_avx512(1, 0, acc, n, row_offset, row_sum, p, dst);
    } else {
        if (p->any_lshift) requant_row_avx512(0, 1, acc, n, row_offset, row_sum, p, dst);
        else requant_row_avx512(0, 0, acc, n, row_offset, row_sum, p, dst);
    }
}
#endif
