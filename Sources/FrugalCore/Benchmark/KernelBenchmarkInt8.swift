extension KernelBenchmark {
    /// PLACEHOLDER until the int8 GEMM lands: times nothing useful.
    static func int8Body(size n: Int, pool: ThreadPool, rng: inout SplitMix64) -> () -> Void {
        return {}
    }
}
