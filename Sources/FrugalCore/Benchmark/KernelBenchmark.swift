import Foundation

/// Times Frugal's GEMM kernels on square problems, as `frugal bench kernels` reports them.
/// Inputs are plain row-major matrices; packing is inside the timed region, as it is for
/// numpy's `a @ b`, so the figures compare like with like.
public enum KernelBenchmark {
    public enum Kind: String, Sendable { case fp32 = "fp32_gemm", int8 = "int8_gemm" }

    public struct Result: Sendable {
        public let kind: Kind
        public let size: Int
        public let threads: Int
        /// Best and median rate over the repetitions, in 10^9 operations per second
        /// (2·m·n·k operations: a multiply and an add per product).
        public let bestRate: Double
        public let medianRate: Double
        public let repetitions: Int
    }

    /// Runs one case: one warm-up, then repetitions until `minimumSeconds` have passed and at
    /// least `minimumRepetitions` were run.
    public static func run(_ kind: Kind, size n: Int, threads: Int,
                           minimumSeconds: Double = 1.0, minimumRepetitions: Int = 5) -> Result {
        let pool = ThreadPool(threadCount: threads)
        var rng = SplitMix64(state: UInt64(n))
        var owned: [UnsafeMutablePointer<Float>] = []
        defer { for p in owned { p.deallocate() } }
        let body: () -> Void
        switch kind {
        case .fp32:
            let a = UnsafeMutablePointer<Float>.allocate(capacity: n * n)
            let b = UnsafeMutablePointer<Float>.allocate(capacity: n * n)
            let c = UnsafeMutablePointer<Float>.allocate(capacity: n * n)
            owned = [a, b, c]
            for i in 0..<n * n {
                a[i] = Float(rng.unitDouble() - 0.5)
                b[i] = Float(rng.unitDouble() - 0.5)
            }
            body = { GEMM.sgemm(m: n, n: n, k: n, a: a, lda: n, b: b, ldb: n, c: c, ldc: n, pool: pool) }
        case .int8:
            body = int8Body(size: n, pool: pool, rng: &rng)
        }
        let times = BenchmarkTimer.sortedTimes(minimumSeconds: minimumSeconds,
                                               minimumRepetitions: minimumRepetitions, body)
        let ops = 2 * Double(n) * Double(n) * Double(n)
        return Result(kind: kind, size: n, threads: threads, bestRate: ops / times[0] / 1e9,
                      medianRate: ops / times[times.count / 2] / 1e9, repetitions: times.count)
    }
}

