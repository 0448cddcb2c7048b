// Run-time CPU feature detection (CPUID + XGETBV on x86-64, NEON is baseline on AArch64).
#include "CFrugalKernels.h"

#if defined(__x86_64__)
#include <cpuid.h>

static uint64_t read_xcr0(void) {
    uint32_t eax, edx;
    __asm__ __volatile__("xgetbv" : "=a"(eax), "=d"(edx) : "c"(0));
    return ((uint64_t)edx << 32) | eax;
}

uint32_t frugal_cpu_features(void) {
    uint32_t a, b, c, d;
    if (!__get_cpuid(1, &a, &b, &c, &d)) return 0;
    int osxsave = (c >> 27) & 1, fma = (c >> 12) & 1, avx = (c >> 28) & 1;
    if (!osxsave || !avx) return 0;
    uint64_t xcr0 = read_xcr0();
    int ymm_state = (xcr0 & 0x6) == 0x6;
    int zmm_state = (xcr0 & 0xE6) == 0xE6;
    if (!ymm_state) return 0;
    if (__get_cpuid_max(0, 0) < 7) return 0;
    __cpuid_count(7, 0, a, b, c, d);
    uint32_t f = 0;
    int avx2 = (b >> 5) & 1;
    if (avx2 && fma) f |= FRUGAL_CPU_AVX2_FMA;
    int avx512f = (b >> 16) & 1, avx512dq = (b >> 17) & 1, avx512bw = (b >> 30) & 1,
        avx512vl = (b >> 31) & 1, vnni = (c >> 11) & 1;
    if (zmm_state && avx512f && avx512dq && avx512bw && avx512vl && (f & FRUGAL_CPU_AVX2_FMA)) {
        f |= FRUGAL_CPU_AVX512;
        if (vnni) f |= FRUGAL_CPU_AVX512_VNNI;
    }
    return f;
}
#elif defined(__aarch64__)
uint32_t frugal_cpu_features(void) { return FRUGAL_CPU_NEON; }
#else
uint32_t frugal_cpu_features(void) { return 0; }
#endif
