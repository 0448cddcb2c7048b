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

/// Single-precision matrix multiplication.
public enum GEMM {
    /// C[m×n] = op(A)[m×k] · op(B)[k×n] (+ C when `accumulate`), row-major with leading
    /// dimensions `lda`, `ldb`, `ldc`. With `transA`, A is stored k×m; with `transB`, B is n×k.
    ///
    /// PLACEHOLDER: a naive loop until the packed, register-blocked kernels land.
    public static func sgemm(
        m: Int, n: Int, k: Int,
        a: UnsafePointer<Float>, lda: Int, transA: Bool = false,
        b: UnsafePointer<Float>, ldb: Int, transB: Bool = false,
        c: UnsafeMutablePointer<Float>, ldc: Int,
        accumulate: Bool = false,
        pool: ThreadPool, isa: KernelISA? = nil
    ) {
        for i in 0..<m {
            for j in 0..<n {
                var s: Float = accumulate ? c[i * ldc + j] : 0
                for p in 0..<k {
                    let av = transA ? a[p * lda + i] : a[i * lda + p]
                    let bv = transB ? b[j * ldb + p] : b[p * ldb + j]
                    s += av * bv
                }
                c[i * ldc + j] = s
            }
        }
    }
}
