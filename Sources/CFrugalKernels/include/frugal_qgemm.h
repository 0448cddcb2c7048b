// int8 GEMM micro-kernels: uint8 x int8 -> int32 (AVX-512 VNNI, AVX2, portable).
#pragma once
#include <stddef.h>
#include <stdint.h>
