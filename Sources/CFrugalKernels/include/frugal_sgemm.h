// fp32 GEMM micro-kernels (AVX-512, AVX2+FMA, portable).
#pragma once
#include <stddef.h>
#include <stdint.h>
