// AVX2 int8 GEMM micro-kernel (4 x 16 tile) and AVX2 requantization row.
//
// Fast path: vpmaddubsw (u8 x s8 pairs -> int16, SATURATING) then vpmaddwd with ones
// (int16 pairs -> int32). Exact only if no pair sum a0*b0 + a1*b1 leaves int16, which Swift
// checks on the packed weights (QGEMM.PackedB.pairsMaySaturate).
// Widening path (FRUGAL_QGEMM_WIDEN): from the same packed bytes, split every 32-bit lane into
// its even bytes (k = 4q, 4q+2) and odd bytes (k = 4q+1, 4q+3) as int16 (A zero-extended, B
// sign-extended) and use two vpmaddwd: int16 x int16 pairs summed into int32, always exact.
#include "CFrugalKernels.h"

#if defined(__x86_64__)
#include <immintrin.h>
#include <string.h>

#define AVX2 __attribute__((target("avx2,fma")))
#define INLINE static inline __attribute__((always_inline))
#define UNROLL _Pragma("clang loop unroll(full)")

enum { MR = FRUGAL_QGEMM_AVX2_MR, NR = FRUGAL_QGEMM_AVX2_NR };

INLINE AVX2 __m256i bcast4(const uint8_t *p) {
    int32_t w;
    memcpy(&w, p, 4);
    return _mm256_set1_epi32(w);
}

INLINE AVX2 void avx2_tile(const int ROWS, const int WIDEN, const int DIRECT, size_t kq,
                           const uint8_t *a, size_t lda, const int8_t *b, int32_t *c,
                           size_t ldc, size_t nr, uint32_t flags) {
    __m256i acc0[MR], acc1[MR];
    UNROLL
    for (int r = 0; r < ROWS; r++) {
        acc0[r] = _mm256_setzero_si256();
        acc1[r] = _mm256_setzero_si256();
    }
    if (!WIDEN) {
        const __m256i ones = _mm256_set1_epi16(1);
        for (size_t q = 0; q < kq; q++) {
            __m256i b0 = _mm256_load_si256((const __m256i *)b);
            __m256i b1 = _mm256_load_si256((const __m256i *)(b + 32));
            UNROLL
            for (int r = 0; r < ROWS; r++) {
                __m256i av = bcast4(DIRECT ? a + (size_t)r * lda : a + 4 * r);
                acc0[r] = _mm256_add_epi32(acc0[r], _mm256_madd_epi16(_mm256_maddubs_epi16(av, b0), ones));
                acc1[r] = _mm256_add_epi32(acc1[r], _mm256_madd_epi16(_mm256_maddubs_epi16(av, b1), ones));
            }
            a += DIRECT ? 4 : 4 * ROWS;
            b += 4 * NR;
        }
    } else {
        const __m256i lowbytes = _mm256_set1_epi16(0x00FF);
        for (size_t q = 0; q < kq; q++) {
            __m256i b0 = _mm256_load_si256((const __m256i *)b);
            __m256i b1 = _mm256_load_si256((const __m256i *)(b + 32));
            __m256i b0e = _mm256_srai_epi16(_mm256_slli_epi16(b0, 8), 8);
            __m256i b0o = _mm256_srai_epi16(b0, 8);
            __m256i b1e = _mm256_srai_epi16(_mm256_slli_epi16(b1, 8), 8);
            __m256i b1o = _mm256_srai_epi16(b1, 8);
            UNROLL
            for (int r = 0; r < ROWS; r++) {
                __m256i av = bcast4(DIRECT ? a + (size_t)r * lda : a + 4 * r);
                __m256i ae = _mm256_and_si256(av, lowbytes);
                __m256i ao = _mm256_srli_epi16(av, 8);
                acc0[r] = _mm256_add_epi32(acc0[r], _mm256_add_epi32(
                    _mm256_madd_epi16(ae, b0e), _mm256_madd_epi16(ao, b0o)));
                acc1[r] = _mm256_add_epi32(acc1[r], _mm256_add_epi32(
                    _mm256_madd_epi16(ae, b1e), _mm256_madd_epi16(ao, b1o)));
            }
            a += DIRECT ? 4 : 4 * ROWS;
            b += 4 * NR;
        }
    }
    const __m256i lane = _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7);
    const __m256i k0 = _mm256_cmpgt_epi32(_mm256_set1_epi32((int)nr), lane);
    const __m256i k1 = _mm256_cmpgt_epi32(_mm256_set1_epi32((int)nr - 8), lane);
    UNROLL
    for (int r = 0; r < ROWS; r++) {
        int32_t *cr = c + (size_t)r * ldc;
        __m256i v0 = acc0[r], v1 = acc1[r];
        if (flags & FRUGAL_QGEMM_ACCUMULATE) {
            v0 = _mm256_add_epi32(v0, _mm256_maskload_epi32(cr, k0));
            v1 = _mm256_add_epi32(v1, _mm256_maskload_epi32(cr + 8, k1));
        }
        if (nr == NR) {
            _mm256_storeu_si256((__m256i *)cr, v0);
            _mm256_storeu_si256((__m256i *)(cr + 8), v1);
        } else {
            _mm256_maskstore_epi32(cr, k0, v0);
            _mm256_maskstore_epi32(cr + 8, k1, v1);
        }
    }
}

#define AVX2_ROWS(W, D)                                                      \
    switch (mr) {                                                           \
    case 4: avx2_tile(4, W, D, kq, a, lda, b, c, ldc, nr, flags); break;            \
    case 3: avx2_tile(3, W, D, kq, a, lda, b, c, ldc, nr, flags); break;            \
    case 2: avx2_tile(2, W, D, kq, a, lda, b, c, ldc, nr, flags); break;            \
    case 1: avx2_tile(1, W, D, kq, a, lda, b, c, ldc, nr, flags); break;            \
    default: break;                                                         \
    }

AVX2 void frugal_qgemm_kernel_avx2(size_t mr, size_t nr, size_t kq, const uint8_t *a,
                                   size_t lda, const int8_t *b, int32_t *c, size_t ldc,
                                   uint32_t flags) {
    int direct = (flags & FRUGAL_QGEMM_DIRECT_A) != 0;
    if (flags & FRUGAL_QGEMM_WIDEN) {
        if (direct) { AVX2_ROWS(1, 1) } else { AVX2_ROWS(1, 0) }
    } else {
        if (direct) { AVX2_ROWS(0, 1) } else { AVX2_ROWS(0, 0) }
    }
}

// Requantization of one row, 8 lanes at a time (see frugal_qgemm.h for the formula).
AVX2 void frugal_requant_row_avx2(const int32_t *acc, size_t n, int32_t row_offset,
                                  int32_t row_sum, const frugal_requant_params *p, void *dst) {
    const __m256i one = _mm256_set1_epi32(1);
    const __m256i i32max = _mm256_set1_epi32(INT32_MAX), i32min = _mm256_set1_epi32(INT32_MIN);
    const __m256i half = _mm256_set1_epi64x((int64_t)1 << 30);
    const __m256i vrow = _mm256_set1_epi32(row_sum);
    const __m256i vrowoff = _mm256_set1_epi32(row_offset);
    const __m256i vzp = _mm256_set1_epi32(p->zero_point);
    const __m256i vlo = _mm256_set1_epi32(p->qmin - p->zero_point);
    const __m256i vhi = _mm256_set1_epi32(p->qmax - p->zero_point);
    const __m256i lane = _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7);
    __m256i vm = _mm256_set1_epi32(p->multiplier[0]);
    __m256i vl = _mm256_set1_epi32(p->lshift[0]);
    __m256i vr = _mm256_set1_epi32(p->rshift[0]);
    for (size_t j = 0; j < n; j += 8) {
        size_t cnt = n - j >= 8 ? 8 : n - j;
        __m256i k = _mm256_cmpgt_epi32(_mm256_set1_epi32((int)cnt), lane);
        __m256i v = _mm256_add_epi32(_mm256_maskload_epi32(acc + j, k), vrowoff);
        if (p->col_offset) v = _mm256_add_epi32(v, _mm256_maskload_epi32(p->col_offset + j, k));
        if (p->col_zero)
            v = _mm256_sub_epi32(v, _mm256_mullo_epi32(vrow, _mm256_maskload_epi32(p->col_zero + j, k)));
        if (p->per_channel) {
            vm = _mm256_maskload_epi32(p->multiplier + j, k);
            vl = _mm256_maskload_epi32(p->lshift + j, k);
            vr = _mm256_maskload_epi32(p->rshift + j, k);
        }
        v = _mm256_max_epi32(v, _mm256_srav_epi32(i32min, vl));
        v = _mm256_min_epi32(v, _mm256_srav_epi32(i32max, vl));
        v = _mm256_sllv_epi32(v, vl);
        __m256i pe = _mm256_add_epi64(_mm256_mul_epi32(v, vm), half);
        __m256i po = _mm256_add_epi64(
            _mm256_mul_epi32(_mm256_srli_epi64(v, 32), _mm256_srli_epi64(vm, 32)), half);
        pe = _mm256_srli_epi64(pe, 31);
        po = _mm256_slli_epi64(po, 1);
        v = _mm256_blend_epi32(pe, po, 0xAA);
        __m256i mask = _mm256_sub_epi32(_mm256_sllv_epi32(one, vr), one);
        __m256i rem = _mm256_and_si256(v, mask);
        __m256i thr = _mm256_add_epi32(_mm256_srai_epi32(mask, 1), _mm256_srli_epi32(v, 31));
        v = _mm256_srav_epi32(v, vr);
        v = _mm256_sub_epi32(v, _mm256_cmpgt_epi32(rem, thr));  // true lanes are -1
        v = _mm256_add_epi32(_mm256_min_epi32(_mm256_max_epi32(v, vlo), vhi), vzp);
        // Values are in range now: packing with saturation is just a narrowing.
        __m128i w = _mm_packs_epi32(_mm256_castsi256_si128(v), _mm256_extracti128_si256(v, 1));
        __m128i bytes = p->out_signed ? _mm_packs_epi16(w, w) : _mm_packus_epi16(w, w);
        if (cnt == 8) {
            _mm_storel_epi64((__m128i *)((uint8_t *)dst + j), bytes);
        } else {
            uint8_t tmp[16];
            _mm_storeu_si128((__m128i *)tmp, bytes);
            memcpy((uint8_t *)dst + j, tmp, cnt);
        }
    }
}
#endif
