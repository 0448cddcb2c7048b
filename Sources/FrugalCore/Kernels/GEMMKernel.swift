// fp32 GEMM: the micro-kernel table and the cache-blocking parameters of each ISA.
//
// Loop nest (GEMMDriver.swift), outermost first:
//   jc over n by NC   -> a KC x NC block of B is packed once and shared by all threads
//   pc over k by KC   -> (KC x NC block of B, packed as NR-column panels)
//   ic over m by MC   -> an MC x KC block of A packed per thread, lives in L2
//   jr over NC by NR  -> one KC x NR panel of B, lives in L1 while...
//   ir over MC by MR  -> ...the MR x KC panels of A stream through it from L2
//
// AVX-512 (Ice Lake / Sapphire Rapids server core: L1d 48 KiB, L2 2 MiB):
//   MR x NR = 12 x 32: 24 zmm accumulators, 2 B loads + 12 broadcasts per 24 FMAs.
//   KC = 256: the B panel is 256 x 32 x 4 B = 32 KiB, two thirds of L1d, leaving room for
//     the 12 KiB A panel streaming past it and the C tile. Also long enough that the
//     C tile load/store of each k block (24 zmm) is amortised over 256 x 24 FMAs.
//   MC = 384: the packed A block is 384 x 256 x 4 B = 384 KiB, a fifth of L2, so it stays
//     resident while B panels (and the other data of the core) stream through L2.
//   NC = 4096: the shared B block is up to 4 MiB and is re-read from L2/L3 once per MC
//     block; large enough that most layers pack B once per k block.
// AVX2: 6 x 16 (12 ymm accumulators of 16); KC = 256 makes the B panel 16 KiB.
// Portable: 4 x 16 plain C that the compiler vectorises with the baseline SIMD.
import CFrugalKernels

typealias SGEMMKernelFunction = @convention(c) (
    Int, Int, Int, UnsafePointer<Float>?, UnsafePointer<Float>?, Int,
    UnsafeMutablePointer<Float>?, Int, UnsafePointer<frugal_sgemm_epilogue>?
) -> Void

/// One fp32 micro-kernel family with its tile shape and cache blocking.
struct SGEMMKernel {
    /// The ISA whose layout this kernel uses (.avx512Vnni is folded into .avx512).
    let isa: KernelISA
    let mr: Int, nr: Int
    let kc: Int, mc: Int, nc: Int
    let function: SGEMMKernelFunction

    static let avx512 = SGEMMKernel(
        isa: .avx512, mr: FRUGAL_SGEMM_AVX512_MR, nr: FRUGAL_SGEMM_AVX512_NR,
        kc: 256, mc: 384, nc: 4096, function: frugal_sgemm_kernel_avx512)
    static let avx2 = SGEMMKernel(
        isa: .avx2, mr: FRUGAL_SGEMM_AVX2_MR, nr: FRUGAL_SGEMM_AVX2_NR,
        kc: 256, mc: 192, nc: 4096, function: frugal_sgemm_kernel_avx2)
    static let portable = SGEMMKernel(
        isa: .portable, mr: FRUGAL_SGEMM_PORTABLE_MR,
        nr: FRUGAL_SGEMM_PORTABLE_NR,
        kc: 256, mc: 128, nc: 4096, function: frugal_sgemm_kernel_portable)

    /// The kernel for `isa` (best available when nil). An ISA the CPU lacks falls back to
    /// the best one it has, so a forced ISA can never crash.
    static func select(_ isa: KernelISA?) -> SGEMMKernel {
        var want = isa ?? KernelISA.best
        if !want.isSupported { want = KernelISA.best }
        switch want {
        case .avx512Vnni, .avx512: return .avx512
        case .avx2: return .avx2
        case .portable: return .portable
        }
    }

    /// Runs the micro-kernel on one tile.
    @inline(__always)
    func tile(
        mr: Int, nr: Int, kc: Int, a: UnsafePointer<Float>, b: UnsafePointer<Float>, ldb: Int,
        c: UnsafeMutablePointer<Float>, ldc: Int, epilogue: inout frugal_sgemm_epilogue
    ) {
        function(mr, nr, kc, a, b, ldb, c, ldc, &epilogue)
    }
}
