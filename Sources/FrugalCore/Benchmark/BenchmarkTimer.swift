import Foundation

/// The timing loop the kernel benchmarks share.
enum BenchmarkTimer {
    /// Runs `body` once as a warm-up, then until `minimumSeconds` have passed and at least
    /// `minimumRepetitions` runs were timed, calling `prepare` (untimed) before each run.
    /// Returns the times of the runs in seconds, sorted.
    static func sortedTimes(minimumSeconds: Double, minimumRepetitions: Int,
                            prepare: () -> Void = {}, _ body: () -> Void) -> [Double] {
        body()
        var times: [Double] = []
        let start = DispatchTime.now().uptimeNanoseconds
        while times.count < max(1, minimumRepetitions)
            || Double(DispatchTime.now().uptimeNanoseconds - start) * 1e-9 < minimumSeconds
        {
            prepare()
            let t0 = DispatchTime.now().uptimeNanoseconds
            body()
            times.append(Double(DispatchTime.now().uptimeNanoseconds - t0) * 1e-9)
        }
        return times.sorted()
    }
}
