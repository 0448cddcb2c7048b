// fp32 GEMM: the micro-kernel table and the cache-blocking parameters of each ISA.
//
// Loop nest of the blocked path (GEMMDriver.swift), outermost first:
//   jc over n by NC   -> a KC x NC block of B is packed once, shared by all threads
//   pc over k by KC   -> k blocks of near-equal depth <= KC
//   ic over m by MC   -> an MC x KC block of A packed per task (one task per row block)
//   jr over NC by NR  -> one KC x NR panel of B...
//   ir over MC by MR  -> ...swept by the MR x KC panels of A of the block
//
// AVX-512 (Ice Lake / Sapphire Rapids server core: L1d 48 KiB, L2 2 MiB per core):
//   MR x NR = 12 x 32: 24 zmm accumulators, 2 B loads + 12 broadcasts per 24 FMAs.
//   KC = 512: the A micro-panel (12 x 512 x 4 B = 24 KiB) stays in L1 while the B panel
//     (512 x 32 x 4 B = 64 KiB) streams from L2 with a software prefetch 2 KiB ahead; two
//     L2 lines per 24 FMAs is far below L2 bandwidth. The long k halves the number of C
//     tile reload/store passes compared with 256, which is what measured best (1024^3:
//     ~168 GFLOP/s at 512 against ~150 at KC = 256 with the B panel sized for L1).
//   MC = 96: the A block (96 x 512 x 4 B = 192 KiB) sits in L2 next to the B panels
//     streaming through it; small blocks also make fine tasks to share among threads.
//     96-192 measured alike; 384 and more lost 5-10 % at 1024^3.
//   NC = 4096: the shared B block (up to 512 x 4096 x 4 B = 8 MiB) is re-read from L3
//     once per row block; at this size most layers pack B once per k block.
// AVX2: 6 x 16 (12 ymm accumulators of 16): KC = 256 makes the B panel 16 KiB.
// Portable: 4 x 16 plain C that the compiler vectorises with the baseline SIMD.
import CFrugalKernels

typealias SGEMMKernelFunction = @convention(c) (
    Int, Int, Int, UnsafePointer<Float>?, UnsafePointer<Float>?, Int,
    UnsafeMutablePointer<Float>?, Int, UnsafePointer<frugal_sgemm_epilogue>?
) -> Void

typealias SGEMMDirectAFunction = @convention(c) (
    Int, Int, Int, UnsafePointer<Float>?, Int, UnsafePointer<Float>?, Int,
    UnsafeMutablePointer<Float>?, Int, UnsafePointer<frugal_sgemm_epilogue>?
) -> Void

typealias SGEMMDotFunction = @convention(c) (
    Int, Int, Int, UnsafePointer<Float>?, Int, UnsafePointer<Float>?, Int,
    UnsafeMutablePointer<Float>?, Int, UnsafePointer<frugal_sgemm_epilogue>?
) -> Void

/// One fp32 micro-kernel family with its tile shape and cache blocking.
struct SGEMMKernel {
    /// The ISA whose layout this kernel uses (.avx512Vnni is folded into .avx512).
    let isa: KernelISA
    let mr: Int, nr: Int
    let kc: Int, mc: Int, nc: Int
    let function: SGEMMKernelFunction
    /// Dot-product kernel for up to 4 rows x 4 columns with a transposed B.
    let dot: SGEMMDotFunction
    /// The micro-kernel reading A in place (row i at a + i * lda), where the ISA has one:
    /// products with few rows then skip packing A (see SGEMMDriver.Job.directA).
    var directA: SGEMMDirectAFunction? = nil

    static let avx512 = SGEMMKernel(
        isa: .avx512, mr: FRUGAL_SGEMM_AVX512_MR, nr: FRUGAL_SGEMM_AVX512_NR,
        kc: 512, mc: 96, nc: 4096, function: frugal_sgemm_kernel_avx512,
        dot: frugal_sgemm_dot_avx512, directA: frugal_sgemm_kernel_avx512_da)
    static let avx2 = SGEMMKernel(
        isa: .avx2, mr: FRUGAL_SGEMM_AVX2_MR, nr: FRUGAL_SGEMM_AVX2_NR,
        kc: 256, mc: 192, nc: 4096, function: frugal_sgemm_kernel_avx2,
        dot: frugal_sgemm_dot_avx2)
    static let portable = SGEMMKernel(
        isa: .portable, mr: FRUGAL_SGEMM_PORTABLE_MR,
        nr: FRUGAL_SGEMM_PORTABLE_NR,
        kc: 256, mc: 128, nc: 4096, function: frugal_sgemm_kernel_portable,
        dot: frugal_sgemm_dot_portable)

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

    /// Runs the direct-A micro-kernel on one tile (only where `directA` is not nil).
    @inline(__always)
    func tile(
        mr: Int, nr: Int, kc: Int, a: UnsafePointer<Float>, lda: Int, b: UnsafePointer<Float>, ldb: Int,
        c: UnsafeMutablePointer<Float>, ldc: Int, epilogue: inout frugal_sgemm_epilogue
    ) {
        directA.unsafelyUnwrapped(mr, nr, kc, a, lda, b, ldb, c, ldc, &epilogue)
    }
}
