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
        state = PoolState()
        for w in 1..<self.threadCount {
            let s = state
            let t = Thread { s.workerLoop(spin: spinDuration) }
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

    /// Runs `body(i)` for every `i` in `0..<count`, spread over the pool; returns when all are
    /// done. Calls from several threads at once are serialised.
    public func parallelFor(_ count: Int, _ body: (Int) -> Void) {
        if count <= 0 { return }
        if threadCount == 1 || count == 1 {
            for i in 0..<count { body(i) }
            return
        }
        submitLock.lock()
        defer { submitLock.unlock() }
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

/// What the workers share with the pool. Workers hold it strongly, so it outlives the pool
/// until every worker has seen the shutdown.
private final class PoolState: @unchecked Sendable {
    // `ticket` packs (generation << 32 | next task index). Claiming a task is a CAS that
    // fails once the caller has moved to a new generation, so a slow worker can never run a
    // task of the wrong job.
    let ticket = Atomic<UInt64>(0)
    let taskCount = Atomic<Int>(0)
    let remaining = Atomic<Int>(0)
    let sleepers = Atomic<Int>(0)
    let stopping = Atomic<Bool>(false)
    let condition = NSCondition()
    // Written by the caller only while no task of any generation is claimable.
    var job: ((Int) -> Void)?

    func run(count: Int, job body: @escaping (Int) -> Void) {
        job = body
        taskCount.store(count, ordering: .relaxed)
        remaining.store(count, ordering: .relaxed)
        let gen = (ticket.load(ordering: .relaxed) >> 32) &+ 1
        ticket.store(gen << 32, ordering: .sequentiallyConsistent)
        if sleepers.load(ordering: .sequentiallyConsistent) > 0 {
            condition.lock()
            condition.broadcast()
            condition.unlock()
        }
        runTasks(generation: gen)
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

    private func runTasks(generation gen: UInt64) {
        while true {
            let v = ticket.load(ordering: .acquiring)
            guard v >> 32 == gen else { return }
            let i = Int(v & 0xFFFF_FFFF)
            guard i < taskCount.load(ordering: .relaxed) else { return }
            let (exchanged, _) = ticket.compareExchange(
                expected: v, desired: v + 1, ordering: .acquiringAndReleasing)
            if !exchanged { continue }
            job!(i)
            remaining.subtract(1, ordering: .releasing)
        }
    }

    func workerLoop(spin: Duration) {
        var seen: UInt64 = 0
        let clock = ContinuousClock()
        while !stopping.load(ordering: .relaxed) {
            // Poll for a new generation for `spin`, then park on the condition.
            let deadline = clock.now.advanced(by: spin)
            var gen = ticket.load(ordering: .acquiring) >> 32
            var spins = 0
            while gen == seen {
                frugal_cpu_relax()
                spins += 1
                if spins & 63 == 0 {
                    if clock.now >= deadline || stopping.load(ordering: .relaxed) { break }
                    if spins >= 256 { sched_yield() }
                }
                gen = ticket.load(ordering: .acquiring) >> 32
            }
            if gen == seen {
                condition.lock()
                sleepers.add(1, ordering: .sequentiallyConsistent)
                while (ticket.load(ordering: .sequentiallyConsistent) >> 32) == seen
                    && !stopping.load(ordering: .sequentiallyConsistent)
                {
                    condition.wait()
                }
                sleepers.subtract(1, ordering: .sequentiallyConsistent)
                condition.unlock()
                continue
            }
            seen = gen
            runTasks(generation: gen)
        }
    }
}
