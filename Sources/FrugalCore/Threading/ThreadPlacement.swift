import Foundation

#if canImport(Glibc)
import Glibc
#endif

/// Where a pool's threads run: each worker pinned to a core of its own, when the process may
/// use at least as many cores as the pool has threads.
///
/// A worker that keeps to one core keeps its share of a kernel's data (e.g. its half of a
/// Gemm's weights) in that core's L2 from one inference to the next. Pinning is off by
/// default: `FRUGAL_PIN_THREADS=1` (or a pool made with `pinThreads: true`) turns it on on
/// Linux, and a failed system call leaves the thread where the scheduler put it. Measured on
/// an idle 2-core machine (8 alternated processes each), pinned and unpinned pools ran
/// MobileNetV2 batch 1 and the LeNets within 1% of each other; on a loaded machine a pinned
/// worker that loses its core cannot move to the free one and the caller waits for it (one
/// round of MobileNetV2 batch 1 / 2 threads 12.4 against 10.2 ms), so it is not the default. The calling thread is not pinned (`all` pins the
/// thread that creates the pool too, to the CPU it runs on then): the workers take the
/// other cores of the process's set, so a caller that stays where it is shares none.
enum ThreadPlacement {
    /// The CPUs each worker of a `threads`-thread pool should keep to (index 0 is the
    /// caller's and stays empty), or nil when the pool should not pin anything.
    static func plan(threads: Int, environment: [String: String] = ProcessInfo.processInfo.environment,
                     force: Bool? = nil) -> [Int]? {
        guard threads > 1, force ?? enabled(environment: environment) else { return nil }
        guard let allowed = allowedCPUs(), allowed.count >= threads else { return nil }
        // The caller's CPU now goes to the caller; the workers take the others, in order.
        let here = currentCPU()
        if environment["FRUGAL_PIN_THREADS"]?.lowercased() == "all", here >= 0, allowed.contains(here) {
            pinCurrentThread(to: here)  // the creating thread too, where it runs now
        }
        var others = allowed.filter { $0 != here }
        if others.count == allowed.count { others.removeFirst() }  // caller not in the set
        return [-1] + others.prefix(threads - 1)
    }

    /// Whether `FRUGAL_PIN_THREADS` asks for pinning (1, true, yes, on or all).
    static func enabled(environment: [String: String]) -> Bool {
        guard let v = environment["FRUGAL_PIN_THREADS"]?.lowercased() else { return false }
        return ["1", "true", "yes", "on", "all"].contains(v)
    }

    /// The CPUs the calling thread may run on, ascending; nil where unknown.
    static func allowedCPUs() -> [Int]? {
        #if os(Linux)
        guard let getAffinity = Affinity.get else { return nil }
        var set = cpu_set_t()
        guard getAffinity(0, MemoryLayout<cpu_set_t>.size, &set) == 0 else { return nil }
        return withUnsafeBytes(of: &set) { raw in
            var cpus: [Int] = []
            for (byte, bits) in raw.enumerated() where bits != 0 {
                for b in 0..<8 where bits & (1 << b) != 0 { cpus.append(byte * 8 + b) }
            }
            return cpus
        }
        #else
        return nil
        #endif
    }

    /// The CPU the calling thread runs on now (-1 if unknown).
    static func currentCPU() -> Int {
        #if os(Linux)
        return Affinity.getCPU.map { Int($0()) } ?? -1
        #else
        return -1
        #endif
    }

    /// Keeps the calling thread on `cpu`; false (and nothing changed) if the system refuses.
    @discardableResult
    static func pinCurrentThread(to cpu: Int) -> Bool {
        #if os(Linux)
        guard cpu >= 0, cpu < MemoryLayout<cpu_set_t>.size * 8, let setAffinity = Affinity.set else { return false }
        var set = cpu_set_t()
        withUnsafeMutableBytes(of: &set) { raw in raw[cpu / 8] = UInt8(1 << (cpu % 8)) }
        return setAffinity(0, MemoryLayout<cpu_set_t>.size, &set) == 0
        #else
        return false
        #endif
    }
}

#if os(Linux)
/// glibc's affinity calls, looked up at run time: Swift's Glibc module leaves out the
/// `_GNU_SOURCE` declarations (`sched_getaffinity`, `sched_setaffinity`, `sched_getcpu`).
private enum Affinity {
    typealias AffinityCall = @convention(c) (pid_t, Int, UnsafeMutablePointer<cpu_set_t>) -> Int32
    typealias CPUCall = @convention(c) () -> Int32

    static func symbol(_ name: String) -> UnsafeMutableRawPointer? {
        dlsym(UnsafeMutableRawPointer(bitPattern: 0), name)  // RTLD_DEFAULT
    }
    static let get: AffinityCall? = symbol("sched_getaffinity").map { unsafeBitCast($0, to: AffinityCall.self) }
    static let set: AffinityCall? = symbol("sched_setaffinity").map { unsafeBitCast($0, to: AffinityCall.self) }
    static let getCPU: CPUCall? = symbol("sched_getcpu").map { unsafeBitCast($0, to: CPUCall.self) }
}
#endif
