import Foundation

#if canImport(Glibc)
import Glibc
#endif

/// Where a pool's threads run, when asked through `FRUGAL_PIN_THREADS` (or `pinThreads`).
///
/// By default the scheduler places the workers. `FRUGAL_PIN_THREADS=place` moves each worker
/// at start to a core other than the creating thread's and then gives its affinity back;
/// `1` keeps each worker pinned to that core (`all` pins the creating thread too, to the CPU
/// it runs on then). Nothing is placed unless the process may use at least as many cores as
/// the pool has threads, and a failed system call leaves the thread where it is.
///
/// Measured on an idle 2-core machine, 6-8 alternated processes per mode: with a warm-up of
/// 0.3 s the three modes ran MobileNetV2 batch 1 and the LeNets within noise of each other.
/// What pinning seemed to fix was the start of a process: for its first 0.1-0.2 s a 2-thread
/// pool runs slower in every mode (LeNet-300-100 batch 64: 0.21 against 0.126 ms per run),
/// which `frugal bench model` now leaves out by warming up for 0.3 s. On a loaded machine a
/// pinned worker cannot leave a busy core (one round of MobileNetV2 batch 1 / 2 threads:
/// 12.4 against 10.2 ms), so pinning is not the default.
enum ThreadPlacement {
    enum Mode: Equatable { case none, place, pin }

    /// The mode `FRUGAL_PIN_THREADS` asks for: `place`; 1, true, yes, on or all `pin`;
    /// anything else (or unset) `none`.
    static func mode(environment: [String: String]) -> Mode {
        guard let v = environment["FRUGAL_PIN_THREADS"]?.lowercased() else { return .none }
        if v == "place" { return .place }
        return ["1", "true", "yes", "on", "all"].contains(v) ? .pin : .none
    }

    /// The CPUs each worker of a `threads`-thread pool should start on (index 0 is the
    /// caller's and stays empty), or nil when the pool should not place anything.
    static func plan(threads: Int, environment: [String: String] = ProcessInfo.processInfo.environment,
                     mode: Mode? = nil) -> [Int]? {
        guard threads > 1, (mode ?? self.mode(environment: environment)) != .none else { return nil }
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

    /// Where a pool's workers start: worker `j` on `cpus[j]`, kept there when `keep`, else
    /// given back the process's CPUs `allowed` once it runs there.
    struct Start: Sendable {
        let cpus: [Int]
        let keep: Bool
        let allowed: [Int]

        /// Moves the calling worker to its CPU, then (unless `keep`) lets it run anywhere
        /// again: it stays where it was put until the scheduler has a reason to move it.
        func apply(worker j: Int) {
            guard j < cpus.count, pinCurrentThread(to: cpus[j]), !keep else { return }
            setCurrentThreadCPUs(allowed)
        }
    }

    /// The start of a `threads`-thread pool's workers: `pinThreads` true pins them, false
    /// places them, nil follows `FRUGAL_PIN_THREADS`; nil when nothing is to be done (one
    /// thread, mode none, or too few allowed CPUs).
    static func start(threads: Int, pinThreads: Bool?) -> Start? {
        guard threads > 1 else { return nil }
        let env = ProcessInfo.processInfo.environment
        let mode = pinThreads.map { $0 ? Mode.pin : .place } ?? self.mode(environment: env)
        guard let cpus = plan(threads: threads, environment: env, mode: mode), let allowed = allowedCPUs() else { return nil }
        return Start(cpus: cpus, keep: mode == .pin, allowed: allowed)
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
    static func pinCurrentThread(to cpu: Int) -> Bool { setCurrentThreadCPUs([cpu]) }

    /// Lets the calling thread run on `cpus` only; false (and nothing changed) if the system
    /// refuses or a CPU number is out of range.
    @discardableResult
    static func setCurrentThreadCPUs(_ cpus: [Int]) -> Bool {
        #if os(Linux)
        let limit = MemoryLayout<cpu_set_t>.size * 8
        guard !cpus.isEmpty, cpus.allSatisfy({ $0 >= 0 && $0 < limit }), let setAffinity = Affinity.set else { return false }
        var set = cpu_set_t()
        withUnsafeMutableBytes(of: &set) { raw in for c in cpus { raw[c / 8] |= UInt8(1 << (c % 8)) } }
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
