import CFrugalKernels
import Foundation
import Synchronization

/// A fixed set of worker threads tuned for batch-1 latency.
///
/// Workers spin for a short while (``spinDuration``) after each job before parking on a
/// condition variable, so a job that follows soon after another reaches them in
/// microseconds; a pool left idle costs no CPU. The calling thread always takes part.
/// Past the first few microseconds a spinning worker (and a caller waiting for a worker's
/// task) yields the core between polls: on a machine with more runnable threads than
/// cores, a spinner that shares a core with the caller would otherwise keep the caller off
/// it for the whole spin (measured: a 2-task job after the workers parked took ~200 µs).
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
    private let submitLock = NSLock()

    /// Creates a pool; `threadCount` includes the calling thread (1 means no worker threads).
    public init(threadCount: Int, spinDuration: Duration = .microseconds(200)) {
        self.threadCount = max(1, threadCount)
        self.spinDuration = spinDuration
        state = PoolState(threads: self.threadCount)
        for w in 1..<self.threadCount {
            let s = state
            let t = Thread { s.workerLoop(home: w, spin: spinDuration) }
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
    public var regionCount: Int { state.regions.load(ordering: .relaxed) }

    /// Runs `body(i)` for every `i` in `0..<count`, spread over the pool; returns when all are
    /// done. A call made while the pool is running another job (a nested call from inside a
    /// task, or a call from another thread) runs on the calling thread alone.
    public func parallelFor(_ count: Int, _ body: (Int) -> Void) {
        if count <= 0 { return }
        if threadCount == 1 || count == 1 || !submitLock.try() {
            for i in 0..<count { body(i) }
            return
        }
        defer { submitLock.unlock() }
        if count > PoolState.maxTasks {
            // More tasks than a cell holds: hand out contiguous runs of them instead.
            let runs = PoolState.maxTasks
            withoutActuallyEscaping({ (r: Int) in
                for i in (count * r / runs)..<(count * (r + 1) / runs) { body(i) }
            }) { state.run(count: runs, job: $0) }
            return
        }
        withoutActuallyEscaping(body) { state.run(count: count, job: $0) }
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

/// One thread's share of a job: a claim word packing (generation, end, next index), so a
/// claim is a single compare-and-swap that fails once the job has changed.
private final class ShareCell: @unchecked Sendable {
    let word = Atomic<UInt64>(0)
    // Keeps the words of different cells on different cache lines.
    var padding: (Int, Int, Int, Int, Int, Int, Int, Int) = (0, 0, 0, 0, 0, 0, 0, 0)
}

/// What the workers share with the pool. Workers hold it strongly, so it outlives the pool
/// until every worker has seen the shutdown.
private final class PoolState: @unchecked Sendable {
    // Claim words: generation in the top 24 bits, then the share's end and its next index
    // in 20 bits each. The generation also lives in `ticket`, which sleeping and spinning
    // workers watch for a new job.
    static let indexBits: UInt64 = 20
    static let maxTasks = 1 << 20 - 1
    static let indexMask: UInt64 = (1 << indexBits) - 1
    static let generationMask: UInt64 = (1 << 24) - 1

    let ticket = Atomic<UInt64>(0)
    let remaining = Atomic<Int>(0)
    let sleepers = Atomic<Int>(0)
    let stopping = Atomic<Bool>(false)
    let regions = Atomic<Int>(0)
    let condition = NSCondition()
    let shares: [ShareCell]
    // Written by the caller only while no task of any generation is claimable.
    var job: ((Int) -> Void)?

    init(threads: Int) {
        shares = (0..<threads).map { _ in ShareCell() }
    }

    static func word(generation: UInt64, end: Int, next: Int) -> UInt64 {
        (generation & generationMask) << (2 * indexBits) | UInt64(end) << indexBits | UInt64(next)
    }

    func run(count: Int, job body: @escaping (Int) -> Void) {
        job = body
        remaining.store(count, ordering: .relaxed)
        var gen = (ticket.load(ordering: .relaxed) &+ 1) & PoolState.generationMask
        if gen == 0 { gen = 1 }  // 0 is the state before the first job
        let n = shares.count
        for (j, cell) in shares.enumerated() {
            cell.word.store(
                PoolState.word(generation: gen, end: count * (j + 1) / n, next: count * j / n),
                ordering: .releasing)
        }
        ticket.store(gen, ordering: .sequentiallyConsistent)
        regions.add(1, ordering: .relaxed)
        if sleepers.load(ordering: .sequentiallyConsistent) > 0 {
            condition.lock()
            condition.broadcast()
            condition.unlock()
        }
        runTasks(generation: gen, home: 0)
        var waits = 0
        while remaining.load(ordering: .acquiring) > 0 {
            frugal_cpu_relax()
            waits &+= 1
            if waits & 255 == 0 { sched_yield() }  // a worker holding a task may need this core
        }
        job = nil
    }

    func shutDown() {
        stopping.store(true, ordering: .sequentiallyConsistent)
        condition.lock()
        condition.broadcast()
        condition.unlock()
    }

    /// Claims and runs tasks of generation `gen`: the home share first, then the others.
    private func runTasks(generation gen: UInt64, home: Int) {
        let n = shares.count
        for step in 0..<n {
            let cell = shares[(home + step) % n]
            while true {
                let v = cell.word.load(ordering: .acquiring)
                guard v >> (2 * PoolState.indexBits) == gen else { return }  // the job is over
                let i = Int(v & PoolState.indexMask)
                guard i < Int((v >> PoolState.indexBits) & PoolState.indexMask) else { break }
                let (exchanged, _) = cell.word.compareExchange(
                    expected: v, desired: v + 1, ordering: .acquiringAndReleasing)
                if !exchanged { continue }
                job!(i)
                remaining.subtract(1, ordering: .releasing)
            }
        }
    }

    func workerLoop(home: Int, spin: Duration) {
        var seen: UInt64 = 0
        let clock = ContinuousClock()
        while !stopping.load(ordering: .relaxed) {
            // Poll for a new generation for `spin`, then park on the condition.
            let deadline = clock.now.advanced(by: spin)
            var gen = ticket.load(ordering: .acquiring)
            var spins = 0
            while gen == seen {
                frugal_cpu_relax()
                spins += 1
                if spins & 63 == 0 {
                    if clock.now >= deadline || stopping.load(ordering: .relaxed) { break }
                    if spins >= 256 { sched_yield() }
                }
                gen = ticket.load(ordering: .acquiring)
            }
            if gen == seen {
                condition.lock()
                sleepers.add(1, ordering: .sequentiallyConsistent)
                while ticket.load(ordering: .sequentiallyConsistent) == seen
                    && !stopping.load(ordering: .sequentiallyConsistent)
                {
                    condition.wait()
                }
                sleepers.subtract(1, ordering: .sequentiallyConsistent)
                condition.unlock()
                continue
            }
            seen = gen
            runTasks(generation: gen, home: home)
        }
    }
}
