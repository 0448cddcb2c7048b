// int8 GEMM micro-kernels: uint8 x int8 -> int32 (AVX-512 VNNI, AVX2, portable), and the
// vectorised inner loop of requantization (int32 -> int8/uint8, gemmlowp fixed point).
//
// A micro-kernel computes one tile C[mr x nr] (+)= A_panel[mr x 4*kq] . B_panel[4*kq x nr]
// in wrapping int32 arithmetic. Packing, blocking, threads, zero points and the choice of the
// requantization parameters are Swift (FrugalCore/Kernels/QGEMM*.swift, Requantization.swift).
//
// Operand layouts ("k-quads": 4 consecutive k values of one row or column in one 32-bit lane):
//   a   packed A panel: a[(q * mr + i) * 4 + t] is A[i, 4q + t] (uint8); mr rows per quad,
//       no padding between rows; k padded with zeros to a multiple of 4.
//       With FRUGAL_QGEMM_DIRECT_A, the caller's row-major uint8 A instead: a[i * lda + 4q + t]
//       (k must then be a multiple of 4: nothing past 4 * kq bytes of a row is read).
//   b   packed B panel: b[(q * NR + j) * 4 + t] is B[4q + t, j] (int8); NR is the kernel's
//       panel width (columns past the matrix edge are zeros), 64-byte aligned.
//   c   row-major int32 tile, row stride ldc; only mr x nr elements are read or written.
// Tile limits: mr in 1...MR and nr in 1...NR; kq may be 0 (stores zeros unless accumulating).
//
// Exactness: vpdpbusd and vpmaddwd add in wrapping int32, so every product is exact and the
// sum is exact modulo 2^32. vpmaddubsw (AVX2 fast path) saturates an int16 pair sum; Swift
// picks it only when the packed B has no pair (k = 4q, 4q+1 or 4q+2, 4q+3) that can
// saturate with any uint8 activation, and the widening path otherwise.
#pragma once
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

enum {
    FRUGAL_QGEMM_VNNI_MR = 12, FRUGAL_QGEMM_VNNI_NR = 32,
    FRUGAL_QGEMM_AVX2_MR = 4, FRUGAL_QGEMM_AVX2_NR = 16,
    FRUGAL_QGEMM_PORTABLE_MR = 4, FRUGAL_QGEMM_PORTABLE_NR = 16,
};

// Micro-kernel flags.
enum {
    FRUGAL_QGEMM_ACCUMULATE = 1 << 0, // add the current content of C (k blocking)
    FRUGAL_QGEMM_WIDEN = 1 << 1,      // AVX2 only: exact int16 widening path, no vpmaddubsw
    FRUGAL_QGEMM_DIRECT_A = 1 << 2,   // a is row-major with row stride lda (see above)
};

// Requantization of one row of int32 accumulators (see Requantization.swift):
//   v   = acc[j] + row_offset + col_offset[j] - row_sum * col_zero[j]   (wrapping int32)
//   v   = v saturated to int32 after << lshift[c]                (c = j per channel, else 0)
//   v   = SaturatingRoundingDoublingHighMul(v, multiplier[c])
//   v   = RoundingDivideByPOT(v, rshift[c])                      (ties away from zero)
//   out = clamp(v + zero_point, qmin, qmax)  stored as int8 or uint8
// col_offset and col_zero may be NULL (zero). multiplier is in [2^30, 2^31) or 0; lshift and
// rshift are in 0...31 and at most one of them is non-zero for a channel.
typedef struct frugal_requant_params {
    const int32_t *col_offset;  // n entries or NULL
    const int32_t *col_zero;    // n entries or NULL
    const int32_t *multiplier;  // n entries if per_channel, else 1
    const int32_t *lshift;      // same count as multiplier
    const int32_t *rshift;      // same count as multiplier
    const int32_t *rmask;       // (1 << rshift) - 1, same count (precomputed for the vector rows)
    // With per_channel, multiplier[count] must be readable (one padding entry): the AVX-512
    // row loads multiplier + j + 1 to get the odd lanes' multipliers in even lanes.
    int32_t per_channel;        // 1: arrays above indexed by column; 0: entry 0 for all
    int32_t any_lshift;         // 0: every lshift entry is 0 (lets kernels skip that step)
    int32_t zero_point, qmin, qmax;
    int32_t out_signed;         // 1: int8 output, 0: uint8 output
} frugal_requant_params;

void frugal_qgemm_kernel_portable(size_t mr, size_t nr, size_t kq, const uint8_t *a, size_t lda,
                                  const int8_t *b, int32_t *c, size_t ldc, uint32_t flags);
void frugal_requant_row_portable(const int32_t *acc, size_t n, int32_t row_offset,
                                 int32_t row_sum, const frugal_requant_params *p, void *dst);

#if defined(__x86_64__)
void frugal_qgemm_kernel_vnni(size_t mr, size_t nr, size_t kq, const uint8_t *a, size_t lda,
                              const int8_t *b, int32_t *c, size_t ldc, uint32_t flags);
void frugal_qgemm_kernel_avx2(size_t mr, size_t nr, size_t kq, const uint8_t *a, size_t lda,
                              const int8_t *b, int32_t *c, size_t ldc, uint32_t flags);
void frugal_requant_row_avx512(const int32_t *acc, size_t n, int32_t row_offset,
                               int32_t row_sum, const frugal_requant_params *p, void *dst);
void frugal_requant_row_avx2(const int32_t *acc, size_t n, int32_t row_offset,
                             int32_t row_sum, const frugal_requant_params *p, void *dst);
#endif

#ifdef __cplusplus
}
#endif
