// fp32 GEMM micro-kernels (AVX-512, AVX2+FMA, portable).
//
// A micro-kernel computes one tile C[mr x nr] = A_panel[mr x kc] . B_panel[kc x nr] and
// stores it through the epilogue. Everything around it (packing, blocking, threads) is
// Swift (FrugalCore/Kernels/GEMM*.swift).
//
// Operand layouts:
//   a   packed A panel, k-major: a[p * mr + i] is A[i, p]; no padding, mr rows per k step.
//   b   B rows, k-major: b[p * ldb + j] is B[p, j]. Either a packed panel (ldb = NR, zero
//       padded to NR columns, 64-byte aligned) or, with FRUGAL_SGEMM_DIRECT_B, the caller's
//       row-major B itself (only the first nr columns of each row are read).
//   c   row-major tile, row stride ldc; only mr x nr elements are written.
// Tile limits: mr in 1...MR and nr in 1...NR of the kernel's ISA (see the *_MR / *_NR
// constants); kc may be 0 (the tile is then just the epilogue applied to zero).
#pragma once
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

enum {
    FRUGAL_SGEMM_AVX512_MR = 12, FRUGAL_SGEMM_AVX512_NR = 32,
    FRUGAL_SGEMM_AVX2_MR = 6, FRUGAL_SGEMM_AVX2_NR = 16,
    FRUGAL_SGEMM_PORTABLE_MR = 4, FRUGAL_SGEMM_PORTABLE_NR = 16,
};

// Epilogue flags. The result is: acc (+ C if ACCUMULATE) (+ bias) then clamped.
enum {
    FRUGAL_SGEMM_ACCUMULATE = 1 << 0, // add the current content of C
    FRUGAL_SGEMM_BIAS_ROW = 1 << 1,   // add bias[i] to row i of the tile
    FRUGAL_SGEMM_BIAS_COL = 1 << 2,   // add bias[j] to column j of the tile
    FRUGAL_SGEMM_CLAMP = 1 << 3,      // clamp to [lo, hi]
    FRUGAL_SGEMM_DIRECT_B = 1 << 4,   // b is the caller's unpacked B: mask loads, prefetch
};

typedef struct frugal_sgemm_epilogue {
    uint32_t flags;
    const float *bias; // already offset to the tile's first row (BIAS_ROW) or column (BIAS_COL)
    float lo, hi;
    ptrdiff_t prefetch; // DIRECT_B only: prefetch b + prefetch (in floats) at each k step
} frugal_sgemm_epilogue;

void frugal_sgemm_kernel_avx512(size_t mr, size_t nr, size_t kc, const float *a,
                                const float *b, size_t ldb, float *c, size_t ldc,
                                const frugal_sgemm_epilogue *ep);
// The AVX-512 kernel with A read in place: row i of the tile's A is a + i * lda (k
// contiguous floats), nothing of A is packed. Same B, C and epilogue rules as above.
void frugal_sgemm_kernel_avx512_da(size_t mr, size_t nr, size_t kc, const float *a,
                                   size_t lda, const float *b, size_t ldb, float *c,
                                   size_t ldc, const frugal_sgemm_epilogue *ep);
void frugal_sgemm_kernel_avx2(size_t mr, size_t nr, size_t kc, const float *a,
                              const float *b, size_t ldb, float *c, size_t ldc,
                              const frugal_sgemm_epilogue *ep);
void frugal_sgemm_kernel_portable(size_t mr, size_t nr, size_t kc, const float *a,
                                  const float *b, size_t ldb, float *c, size_t ldc,
                                  const frugal_sgemm_epilogue *ep);

// Dot-product kernels for products with few rows and a transposed B (B stored n x k):
// C[i, j] = sum_p a[i * lda + p] * b[j * ldb + p] for i < mr <= 4, j < nr <= 4, then the
// epilogue (DIRECT_B and prefetch are ignored). Both operands are read along k, contiguously.
enum { FRUGAL_SGEMM_DOT_MR = 4, FRUGAL_SGEMM_DOT_NR = 4 };
void frugal_sgemm_dot_avx512(size_t mr, size_t nr, size_t k, const float *a, size_t lda,
                             const float *b, size_t ldb, float *c, size_t ldc,
                             const frugal_sgemm_epilogue *ep);
void frugal_sgemm_dot_avx2(size_t mr, size_t nr, size_t k, const float *a, size_t lda,
                           const float *b, size_t ldb, float *c, size_t ldc,
                           const frugal_sgemm_epilogue *ep);
void frugal_sgemm_dot_portable(size_t mr, size_t nr, size_t k, const float *a, size_t lda,
                               const float *b, size_t ldb, float *c, size_t ldc,
                               const frugal_sgemm_epilogue *ep);

// Kernels with the rows of C in the vector lanes, for products with few columns:
// C[r, j] = sum_p a[p * T_MR + r] * b[p * ldb + j] for r < mr <= T_MR, j < nr <= T_NR, then the
// epilogue in C's terms (BIAS_ROW adds bias[r], BIAS_COL bias[j]). a is a panel of A^T,
// T_MR rows of A per k step, zero padded past mr (GEMM.PackedA's column-panel layout); b is
// the caller's row-major B read in place (only nr columns of each row). With a nonzero
// ep->prefetch, b + prefetch is prefetched at each k step; DIRECT_B is ignored. A non-NULL
// `next` is a prefetch hint only: 32 bytes from it per k step (kc * 32 bytes in all) are
// pulled into L2 for the tiles that follow (the portable kernel ignores it).
enum { FRUGAL_SGEMM_T_MR = 32, FRUGAL_SGEMM_T_NR = 12 };
void frugal_sgemm_kernel_t_avx512(size_t mr, size_t nr, size_t kc, const float *a,
                                  const float *b, size_t ldb, float *c, size_t ldc,
                                  const frugal_sgemm_epilogue *ep, const float *next);
void frugal_sgemm_kernel_t_portable(size_t mr, size_t nr, size_t kc, const float *a,
                                    const float *b, size_t ldb, float *c, size_t ldc,
                                    const frugal_sgemm_epilogue *ep, const float *next);

// Applies the epilogue to one element (shared by the dot-product kernels).
static inline float frugal_sgemm_epilogue_one(float x, float *c, size_t i, size_t j,
                                              const frugal_sgemm_epilogue *ep) {
    if (ep->flags & FRUGAL_SGEMM_ACCUMULATE) x += *c;
    if (ep->flags & FRUGAL_SGEMM_BIAS_COL) x += ep->bias[j];
    if (ep->flags & FRUGAL_SGEMM_BIAS_ROW) x += ep->bias[i];
    if (ep->flags & FRUGAL_SGEMM_CLAMP) {
        x = x < ep->lo ? ep->lo : x;
        x = x > ep->hi ? ep->hi : x;
    }
    return x;
}

#ifdef __cplusplus
}
#endif
