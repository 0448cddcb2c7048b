// CFrugalKernels: the ISA-specific inner loops of Frugal, nothing else.
// Every entry point has a portable version; x86-64 versions carry
// __attribute__((target(...))) and are chosen at run time by CPUID, so the package
// builds without any compiler flags and runs on any x86-64 or ARM machine.
#ifndef CFRUGAL_KERNELS_H
#define CFRUGAL_KERNELS_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

// ---- CPU features ---------------------------------------------------------
// Bit set of what the CPU *and* the OS support (XSAVE state enabled).
enum {
    FRUGAL_CPU_AVX2_FMA = 1 << 0,   // AVX2 + FMA3
    FRUGAL_CPU_AVX512 = 1 << 1,     // AVX-512 F, BW, DQ, VL
    FRUGAL_CPU_AVX512_VNNI = 1 << 2,
    FRUGAL_CPU_NEON = 1 << 3,
};
uint32_t frugal_cpu_features(void);

// Spin-wait hint (PAUSE on x86, YIELD on ARM).
static inline void frugal_cpu_relax(void) {
#if defined(__x86_64__) || defined(__i386__)
    __builtin_ia32_pause();
#elif defined(__aarch64__)
    __asm__ __volatile__("yield");
#endif
}

#ifdef __cplusplus
}
#endif

// Kernel families, one header each.
#include "frugal_sgemm.h"
#include "frugal_qgemm.h"
#include "frugal_pool.h"
#include "frugal_dwconv.h"
#include "frugal_convsmall.h"

#endif
