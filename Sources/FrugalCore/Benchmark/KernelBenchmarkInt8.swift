extension KernelBenchmark {
    /// uint8 activations x int8 weights -> int32, B packed inside the timed call (as for fp32).
    static func int8Body(size n: Int, pool: ThreadPool, rng: inout SplitMix64) -> () -> Void {
        let a = UnsafeMutablePointer<UInt8>.allocate(capacity: n * n)
        let b = UnsafeMutablePointer<Int8>.allocate(capacity: n * n)
        let c = UnsafeMutablePointer<Int32>.allocate(capacity: n * n)
        for i in 0..<n * n {
            a[i] = UInt8(truncatingIfNeeded: rng.next())
            b[i] = Int8(truncatingIfNeeded: rng.next())
        }
        return {
            // Square problems with valid leading dimensions cannot fail.
            try! QGEMM.gemm(m: n, n: n, k: n, a: a, lda: n, aZeroPoint: 128, b: b, ldb: n,
                            c: c, ldc: n, pool: pool)
        }
    }
}
