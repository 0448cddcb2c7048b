import CFrugalKernels
import Foundation
import Synchronization

/// A fixed set of worker threads tuned for batch-1 latency.
///
/// Workers spin for a short while (``spinDuration``) after each job before parking on a
/// condition variable, so a job that follows soon after another reaches them in
/// microseconds; a pool left idle costs no CPU. The calling thread always takes part.
/// Past the first ~15 µs (``PoolState/eagerSpins`` polls) a spinning worker (and a caller
/// waiting for a worker's task) yields the core between polls: on a machine with more
/// runnable threads than cores, a spinner that shares a core with the caller would
/// otherwise keep the caller off it for the whole spin (measured: a 2-task job after the
/// workers parked took ~200 µs). Before that it only polls: a yield is a system call
/// (~0.5 µs here) during which a new job waits.
///
/// The words the threads share sit on cache-line blocks of their own (``PoolWords``), a
/// job costs the caller no lock and one allocation (the escaping wrapper of its closure),
/// and each thread counts its finished tasks once per job. Where workers run is the
/// scheduler's choice unless `FRUGAL_PIN_THREADS` or `pinThreads` asks otherwise
/// (``ThreadPlacement``).
///
/// Tasks are dealt out by affinity: thread `j` of `T` (the caller is 0) first takes the
/// tasks of its own share, `count * j / T ..< count * (j + 1) / T`, in order, then helps
/// with the other shares. So when every thread is running, consecutive kernels that cut
/// the same index space the same way (e.g. the columns of one activation) hand each
/// thread the part it wrote before, still in its own cache; a thread that falls behind
/// (preempted on a busy machine) has its share finished by the others.
/// Measured on MobileNetV2 (batch 1, 2 threads): a 1x1 convolution after another was up to
/// 1.6x slower when its column chunks went to whichever thread came first, the other
/// core's half of the input and output lines moving across.
///
/// A `parallelFor` issued while the pool is busy (from inside one of its tasks, or from
/// another thread) runs on the calling thread alone instead of waiting.
///
/// ```swift
/// let pool = ThreadPool(threadCount: 2)
/// pool.parallelFor(100) { i in work(i) }
/// ```
public final class ThreadPool: @unchecked Sendable {
    /// Threads that run a job, the caller included.
    public let threadCount: Int
    /// How long a worker keeps polling for the next job before it sleeps.
    public let spinDuration: Duration
    private let state: PoolState
    /// The CPU each thread keeps to (index 0, the caller, is not pinned), if pinned; see
    /// ``ThreadPlacement``.
    public let pinnedCPUs: [Int]?

    /// Creates a pool; `threadCount` includes the calling thread (1 means no worker threads).
    /// `pinThreads` true pins each worker to a core of its own (Linux, when the process may
    /// use `threadCount` cores or more), false lets it start there and move; nil follows
    /// `FRUGAL_PIN_THREADS` (unset: the scheduler places them). See ``ThreadPlacement``.
    public init(threadCount: Int, spinDuration: Duration = .microseconds(200), pinThreads: Bool? = nil) {
        self.threadCount = max(1, threadCount)
        self.spinDuration = spinDuration
        state = PoolState(threads: self.threadCount)
        let start = ThreadPlacement.start(threads: self.threadCount, pinThreads: pinThreads)
        pinnedCPUs = start?.keep == true ? start!.cpus : nil
        for w in 1..<self.threadCount {
            let s = state
            let t = Thread { s.workerLoop(home: w, spin: spinDuration, start: start) }
            t.name = "frugal-worker-\(w)"
            t.stackSize = 1 << 20
            t.start()
        }
    }

    deinit { state.shutDown() }

    /// The thread count from `FRUGAL_NUM_THREADS`, or the number of active cores.
    public static func defaultThreadCount(environment: [String: String] = ProcessInfo.processInfo.environment) -> Int {
        if let s = environment["FRUGAL_NUM_THREADS"], let n = Int(s), n > 0 { return n }
        return max(1, ProcessInfo.processInfo.activeProcessorCount)
    }

    /// Parallel regions (jobs of more than one task that reached the workers) run so far:
    /// a profiling figure, e.g. regions per inference.
    public var regionCount: Int { state.regionCount }

    /// Runs `body(i)` for every `i` in `0..<count`, spread over the pool; returns when all are
    /// done. A call made while the pool is running another job (a nested call from inside a
    /// task, or a call from another thread) runs on the calling thread alone.
    public func parallelFor(_ count: Int, _ body: (Int) -> Void) {
        if count <= 0 { return }
        if threadCount == 1 || count == 1 || !state.tryAcquire() {
            for i in 0..<count { body(i) }
            return
        }
        defer { state.release() }
        if count > PoolState.maxTasks {
            // More tasks than a claim word holds: hand out contiguous runs of them instead.
            let runs = PoolState.maxTasks
            withoutActuallyEscaping({ (r: Int) in
                for i in (count * r / runs)..<(count * (r + 1) / runs) { body(i) }
            }) { state.run(count: runs, body: $0) }
            return
        }
        withoutActuallyEscaping(body) { state.run(count: count, body: $0) }
    }

    /// Splits `0..<count` into at most `threadCount` contiguous ranges of near-equal size,
    /// each at least `minimumChunk` long (except when `count` itself is smaller).
    public func parallelChunks(_ count: Int, minimumChunk: Int = 1, _ body: (Range<Int>) -> Void) {
        let chunks = max(1, min(threadCount, count / max(1, minimumChunk)))
        if chunks == 1 {
            if count > 0 { body(0..<count) }
            return
        }
        parallelFor(chunks) { c in
            let lo = count * c / chunks, hi = count * (c + 1) / chunks
            if hi > lo { body(lo..<hi) }
        }
    }
}
