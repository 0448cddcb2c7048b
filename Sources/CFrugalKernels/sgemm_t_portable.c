// fp32 GEMM micro-kernel with the rows of C in the lanes, in plain C (any CPU): the
// reference and fallback of sgemm_t_avx512.c, same operands (see frugal_sgemm.h).
#include "frugal_sgemm.h"

void frugal_sgemm_kernel_t_portable(size_t mr, size_t nr, size_t kc, const float *a,
                                    const float *b, size_t ldb, float *c, size_t ldc,
                                    const frugal_sgemm_epilogue *ep, const float *next) {
    (void)next;  // a prefetch hint only
    float acc[FRUGAL_SGEMM_T_NR][FRUGAL_SGEMM_T_MR];
    for (size_t j = 0; j < nr; j++)
        for (int r = 0; r < FRUGAL_SGEMM_T_MR; r++) acc[j][r] = 0.0f;
    for (size_t p = 0; p < kc; p++) {
        for (size_t j = 0; j < nr; j++) {
            const float bv = b[j];
            for (int r = 0; r < FRUGAL_SGEMM_T_MR; r++) acc[j][r] += a[r] * bv;
        }
        a += FRUGAL_SGEMM_T_MR;
        b += ldb;
    }
    for (size_t r = 0; r < mr; r++)
        for (size_t j = 0; j < nr; j++) {
            float *crj = c + r * ldc + j;
            *crj = frugal_sgemm_epilogue_one(acc[j][r], crj, r, j, ep);
        }
}
