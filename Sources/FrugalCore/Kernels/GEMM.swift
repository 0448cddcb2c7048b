// Public fp32 GEMM API: GEMM.sgemm (plain or pre-packed B), GEMMBias, and the ISA enum.
// The work happens in GEMMDriver.swift (blocking, threads), GEMMPacking.swift and the C
// micro-kernels of CFrugalKernels (sgemm_*.c), chosen at run time by CPUID.

/// Which instruction set a kernel uses. `nil` where a kernel takes one means "best available".
public enum KernelISA: String, CaseIterable, Sendable {
    case avx512Vnni = "avx512-vnni", avx512, avx2, portable

    /// The best ISA this CPU supports.
    public static var best: KernelISA {
        let c = CPUInfo.current
        return c.hasAVX512VNNI ? .avx512Vnni : c.hasAVX512 ? .avx512 : c.hasAVX2FMA ? .avx2 : .portable
    }

    /// Whether this CPU can run kernels of this ISA.
    public var isSupported: Bool {
        let c = CPUInfo.current
        switch self {
        case .avx512Vnni: return c.hasAVX512VNNI
        case .avx512: return c.hasAVX512
        case .avx2: return c.hasAVX2FMA
        case .portable: return true
        }
    }
}

/// A bias added to the GEMM result while it is stored (before the clamp).
public enum GEMMBias {
    /// No bias.
    case none
    /// `m` values: bias[i] is added to row i (convolution as W · im2col).
    case perRow(UnsafePointer<Float>)
    /// `n` values: bias[j] is added to column j (Linear / Gemm).
    case perColumn(UnsafePointer<Float>)
}

/// Single-precision matrix multiplication.
public enum GEMM {
    /// C[m×n] = op(A)[m×k] · op(B)[k×n] (+ C when `accumulate`) (+ `bias`), then clamped to
    /// `clamp` (ReLU is `0...Float.infinity`, ReLU6 `0...6`). Row-major with leading
    /// dimensions `lda`, `ldb`, `ldc`; with `transA`, A is stored k×m, with `transB`, B is n×k.
    ///
    /// `pool` spreads large products over its threads (pass a one-thread pool when calling
    /// from inside a `parallelFor` of the same pool); `isa` forces a kernel family (an ISA
    /// the CPU lacks falls back to the best one it has). k = 0 gives C = bias (or C + bias),
    /// clamped. Safe to call from several threads at once.
    public static func sgemm(
        m: Int, n: Int, k: Int,
        a: UnsafePointer<Float>, lda: Int, transA: Bool = false,
        b: UnsafePointer<Float>, ldb: Int, transB: Bool = false,
        c: UnsafeMutablePointer<Float>, ldc: Int,
        accumulate: Bool = false,
        bias: GEMMBias = .none, clamp: ClosedRange<Float>? = nil,
        pool: ThreadPool, isa: KernelISA? = nil
    ) {
        precondition(m >= 0 && n >= 0 && k >= 0, "sgemm: negative dimension m=\(m) n=\(n) k=\(k)")
        precondition(lda >= max(1, transA ? m : k), "sgemm: lda \(lda) too small")
        precondition(ldb >= max(1, transB ? k : n), "sgemm: ldb \(ldb) too small")
        precondition(ldc >= max(1, n), "sgemm: ldc \(ldc) too small")
        SGEMMDriver.run(
            m: m, n: n, k: k, a: SGEMMOperandA(base: a, ld: lda, trans: transA),
            b: .plain(SGEMMOperandB(base: b, ld: ldb, trans: transB)),
            c: c, ldc: ldc, accumulate: accumulate, bias: bias, clamp: clamp,
            pool: pool, kernel: SGEMMKernel.select(isa))
    }

    /// C[m×n] = op(A)[m×k] · B (+ C) (+ bias), clamped, with B pre-packed (n and k are the
    /// packed matrix's). Runs the kernels of the ISA the matrix was packed for.
    public static func sgemm(
        m: Int,
        a: UnsafePointer<Float>, lda: Int, transA: Bool = false,
        b: PackedB,
        c: UnsafeMutablePointer<Float>, ldc: Int,
        accumulate: Bool = false,
        bias: GEMMBias = .none, clamp: ClosedRange<Float>? = nil,
        pool: ThreadPool
    ) {
        precondition(m >= 0, "sgemm: negative m=\(m)")
        precondition(lda >= max(1, transA ? m : b.k), "sgemm: lda \(lda) too small")
        precondition(ldc >= max(1, b.n), "sgemm: ldc \(ldc) too small")
        SGEMMDriver.run(
            m: m, n: b.n, k: b.k, a: SGEMMOperandA(base: a, ld: lda, trans: transA),
            b: .packed(b), c: c, ldc: ldc, accumulate: accumulate, bias: bias, clamp: clamp,
            pool: pool, kernel: b.kernel)
    }
}
