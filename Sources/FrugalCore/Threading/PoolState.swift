import CFrugalKernels
import Foundation
import Synchronization

/// The words a pool's threads share, each group on its own 128-byte block (a cache line and
/// the neighbour the adjacent-line prefetcher pulls with it), so a word one thread writes
/// often never shares a line with a word another thread polls.
///
/// Block 0 (written by the caller once per job, polled by spinning workers): the ticket
/// (job generation), and the sleeper count and stop flag (written by
/// workers only when they park or the pool goes). Block 1: the caller's busy flag and the
/// region count (caller only). Block 2: tasks not yet finished (every thread that ran
/// some, once per job). Blocks 3...: one claim word per thread's share.
struct PoolWords {
    static let blockBytes = 128
    let base: UnsafeMutableRawPointer

    init(shares: Int) {
        let blocks = 3 + shares
        base = UnsafeMutableRawPointer.allocate(byteCount: blocks * PoolWords.blockBytes, alignment: PoolWords.blockBytes)
        for b in 0..<blocks {
            for w in 0..<(PoolWords.blockBytes / 8) {
                (base + b * PoolWords.blockBytes + w * 8).bindMemory(to: Atomic<UInt64>.self, capacity: 1)
                    .initialize(to: Atomic(0))
            }
        }
    }

    func free() { base.deallocate() }

    @inline(__always)
    func word(block: Int, _ index: Int = 0) -> UnsafeMutablePointer<Atomic<UInt64>> {
        (base + block * PoolWords.blockBytes + index * 8).assumingMemoryBound(to: Atomic<UInt64>.self)
    }

    var ticket: UnsafeMutablePointer<Atomic<UInt64>> { word(block: 0, 0) }
    var sleepers: UnsafeMutablePointer<Atomic<UInt64>> { word(block: 0, 2) }
    var stopping: UnsafeMutablePointer<Atomic<UInt64>> { word(block: 0, 3) }
    var busy: UnsafeMutablePointer<Atomic<UInt64>> { word(block: 1, 0) }
    var regions: UnsafeMutablePointer<Atomic<UInt64>> { word(block: 1, 1) }
    var remaining: UnsafeMutablePointer<Atomic<UInt64>> { word(block: 2, 0) }
    @inline(__always)
    func share(_ j: Int) -> UnsafeMutablePointer<Atomic<UInt64>> { word(block: 3 + j, 0) }
}

/// What the workers share with the pool. Workers hold it strongly, so it outlives the pool
/// until every worker has seen the shutdown.
final class PoolState: @unchecked Sendable {
    // Claim words: generation in the top 24 bits, then the share's end and its next index
    // in 20 bits each, so a claim is one compare-and-swap that fails once the job has
    // changed. The generation also lives in the ticket, which workers watch for a new job.
    static let indexBits: UInt64 = 20
    static let maxTasks = 1 << 20 - 1
    static let indexMask: UInt64 = (1 << indexBits) - 1
    static let generationMask: UInt64 = (1 << 24) - 1
    /// Polls a spinning worker makes with the pause instruction alone before it also
    /// yields its core every 64 polls (~15 µs: the gaps between the kernels of a model).
    static let eagerSpins = 1024

    let threads: Int
    let words: PoolWords
    let condition = NSCondition()
    /// The running job's closure (``idle`` between jobs), written by the caller only while
    /// no task is claimable; workers read it only after a successful claim.
    let jobSlot: UnsafeMutablePointer<Job>
    static let idle = Job(body: { _ in })

    /// The closure in a struct: stored at its own abstraction level, not re-wrapped in a
    /// reabstraction thunk (an allocation) as a bare closure in generic storage would be.
    struct Job {
        var body: (Int) -> Void
    }

    init(threads: Int) {
        self.threads = threads
        words = PoolWords(shares: threads)
        jobSlot = .allocate(capacity: 1)
        jobSlot.initialize(to: PoolState.idle)
    }

    deinit {
        words.free()
        jobSlot.deinitialize(count: 1)
        jobSlot.deallocate()
    }

    static func word(generation: UInt64, end: Int, next: Int) -> UInt64 {
        (generation & generationMask) << (2 * indexBits) | UInt64(end) << indexBits | UInt64(next)
    }

    /// Takes the pool for one job; false if another job holds it (nested or concurrent call).
    @inline(__always)
    func tryAcquire() -> Bool {
        words.busy.pointee.compareExchange(expected: 0, desired: 1, ordering: .acquiring).exchanged
    }

    @inline(__always)
    func release() { words.busy.pointee.store(0, ordering: .releasing) }

    var regionCount: Int { Int(words.regions.pointee.load(ordering: .relaxed)) }

    /// Runs tasks `0..<count` of `body` on the caller and the workers; the caller holds the
    /// pool. The workers call `body` through ``jobSlot``.
    func run(count: Int, body: @escaping (Int) -> Void) {
        jobSlot.pointee.body = body
        defer { jobSlot.pointee = PoolState.idle }  // the caller's closure must not outlive the call
        let w = words
        w.remaining.pointee.store(UInt64(count), ordering: .relaxed)
        var gen = (w.ticket.pointee.load(ordering: .relaxed) &+ 1) & PoolState.generationMask
        if gen == 0 { gen = 1 }  // 0 is the state before the first job
        for j in 0..<threads {
            w.share(j).pointee.store(
                PoolState.word(generation: gen, end: count * (j + 1) / threads, next: count * j / threads),
                ordering: .releasing)
        }
        w.ticket.pointee.store(gen, ordering: .sequentiallyConsistent)
        w.regions.pointee.wrappingAdd(1, ordering: .relaxed)
        if w.sleepers.pointee.load(ordering: .sequentiallyConsistent) > 0 {
            condition.lock()
            condition.broadcast()
            condition.unlock()
        }
        runTasks(generation: gen, home: 0, body: body)
        var waits = 0
        while w.remaining.pointee.load(ordering: .acquiring) > 0 {
            frugal_cpu_relax()
            waits &+= 1
            // A worker holding a task may need this core.
            if waits >= PoolState.eagerSpins && waits & 255 == 0 { sched_yield() }
        }
    }

    func shutDown() {
        words.stopping.pointee.store(1, ordering: .sequentiallyConsistent)
        condition.lock()
        condition.broadcast()
        condition.unlock()
    }

    /// Claims and runs tasks of generation `gen`, the home share first, then the others;
    /// then counts them done in one step (a single write to the shared counter per thread).
    @inline(__always)
    private func runTasks(generation gen: UInt64, home: Int, body: (Int) -> Void) {
        let n = threads
        var done: UInt64 = 0
        shares: for step in 0..<n {
            let cell = words.share(home + step < n ? home + step : home + step - n)
            while true {
                let v = cell.pointee.load(ordering: .acquiring)
                guard v >> (2 * PoolState.indexBits) == gen else { break shares }  // the job is over
                let i = Int(v & PoolState.indexMask)
                guard i < Int((v >> PoolState.indexBits) & PoolState.indexMask) else { break }
                if !cell.pointee.compareExchange(expected: v, desired: v + 1, ordering: .acquiringAndReleasing).exchanged {
                    continue
                }
                body(i)
                done &+= 1
            }
        }
        if done > 0 { words.remaining.pointee.subtract(done, ordering: .releasing) }
    }

    /// A worker's tasks of generation `gen`: the job's closure is read only once a claim
    /// has succeeded (the job is live until that task is counted done).
    private func runWorkerTasks(generation gen: UInt64, home: Int) {
        let slot = jobSlot
        runTasks(generation: gen, home: home) { i in slot.pointee.body(i) }
    }

    func workerLoop(home: Int, spin: Duration, start: ThreadPlacement.Start?) {
        start?.apply(worker: home)
        let w = words
        var seen: UInt64 = 0
        let clock = ContinuousClock()
        while w.stopping.pointee.load(ordering: .relaxed) == 0 {
            // Poll for a new generation for `spin`, then park on the condition.
            let deadline = clock.now.advanced(by: spin)
            var gen = w.ticket.pointee.load(ordering: .acquiring)
            var spins = 0
            while gen == seen {
                frugal_cpu_relax()
                spins &+= 1
                if spins & 63 == 0 {
                    if clock.now >= deadline || w.stopping.pointee.load(ordering: .relaxed) != 0 { break }
                    if spins >= PoolState.eagerSpins { sched_yield() }
                }
                gen = w.ticket.pointee.load(ordering: .acquiring)
            }
            if gen == seen {
                condition.lock()
                w.sleepers.pointee.add(1, ordering: .sequentiallyConsistent)
                while w.ticket.pointee.load(ordering: .sequentiallyConsistent) == seen
                    && w.stopping.pointee.load(ordering: .sequentiallyConsistent) == 0
                {
                    condition.wait()
                }
                w.sleepers.pointee.subtract(1, ordering: .sequentiallyConsistent)
                condition.unlock()
                continue
            }
            seen = gen
            runWorkerTasks(generation: gen, home: home)
        }
    }
}
