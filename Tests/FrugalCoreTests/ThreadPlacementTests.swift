import Foundation
import Synchronization
import Testing

@testable import FrugalCore

@Suite struct ThreadPlacementTests {
    @Test func switchedOffByTheEnvironment() {
        for off in ["0", "false", "No", "OFF"] {
            #expect(ThreadPlacement.mode(environment: ["FRUGAL_PIN_THREADS": off]) == .none)
            #expect(ThreadPlacement.plan(threads: 2, environment: ["FRUGAL_PIN_THREADS": off]) == nil)
        }
        #expect(ThreadPlacement.mode(environment: [:]) == .none, "the scheduler places threads by default")
        #expect(ThreadPlacement.plan(threads: 2, environment: [:]) == nil)
        #expect(ThreadPlacement.mode(environment: ["FRUGAL_PIN_THREADS": "place"]) == .place)
        #expect(ThreadPlacement.mode(environment: ["FRUGAL_PIN_THREADS": "1"]) == .pin)
        #expect(ThreadPlacement.mode(environment: ["FRUGAL_PIN_THREADS": "all"]) == .pin)
    }

    @Test func workersTakeDistinctAllowedCoresOtherThanTheCallers() {
        #expect(ThreadPlacement.plan(threads: 1, environment: [:]) == nil)
        guard let allowed = ThreadPlacement.allowedCPUs() else { return }  // not Linux
        #expect(!allowed.isEmpty && allowed == allowed.sorted())
        // More threads than allowed cores: nothing pinned.
        #expect(ThreadPlacement.plan(threads: allowed.count + 1, environment: [:], mode: .pin) == nil)
        guard allowed.count >= 2 else { return }
        let plan = ThreadPlacement.plan(threads: allowed.count, environment: [:], mode: .place)
        #expect(plan?.count == allowed.count)
        if let workers = plan?.dropFirst() {
            #expect(Set(workers).count == workers.count && workers.allSatisfy { allowed.contains($0) })
        }
    }

    @Test func pinnedWorkersRunOnTheirCore() throws {
        guard let allowed = ThreadPlacement.allowedCPUs(), allowed.count >= 2 else { return }
        let pool = ThreadPool(threadCount: 2, spinDuration: .milliseconds(5), pinThreads: true)
        let cpus = try #require(pool.pinnedCPUs)
        // Tasks slow enough that the worker takes some; every one it takes runs on its CPU.
        let caller = pthread_self()
        let onWorker = Atomic<Int>(0), elsewhere = Atomic<Int>(0)
        for _ in 0..<40 {
            pool.parallelFor(4) { _ in
                usleep(200)
                guard pthread_equal(pthread_self(), caller) == 0 else { return }
                onWorker.add(1, ordering: .relaxed)
                if ThreadPlacement.currentCPU() != cpus[1] { elsewhere.add(1, ordering: .relaxed) }
            }
        }
        #expect(elsewhere.load(ordering: .relaxed) == 0, "\(onWorker.load(ordering: .relaxed)) tasks on the worker")
    }

    /// A placed worker starts on a core of its own and then may run anywhere again.
    @Test func placedWorkersAreNotLeftPinned() throws {
        guard let allowed = ThreadPlacement.allowedCPUs(), allowed.count >= 2 else { return }
        let pool = ThreadPool(threadCount: 2, spinDuration: .milliseconds(5), pinThreads: false)
        #expect(pool.pinnedCPUs == nil)
        let caller = pthread_self()
        let workerSets = Mutex<[[Int]]>([])
        for _ in 0..<40 {
            pool.parallelFor(4) { _ in
                usleep(200)
                if pthread_equal(pthread_self(), caller) == 0, let cpus = ThreadPlacement.allowedCPUs() {
                    workerSets.withLock { $0.append(cpus) }
                }
            }
        }
        let seen = workerSets.withLock { $0 }
        #expect(!seen.isEmpty, "the worker took no task")
        #expect(seen.allSatisfy { $0 == allowed }, "a placed worker kept a narrowed affinity: \(Set(seen))")
    }

    @Test func pinningNeverBreaksAPool() {
        // A CPU that does not exist: the call fails and the thread carries on.
        #expect(!ThreadPlacement.pinCurrentThread(to: 1 << 20))
        let pool = ThreadPool(threadCount: 3, pinThreads: true)  // more threads than cores here: nothing pinned
        let total = Atomic<Int>(0)
        for _ in 0..<200 { pool.parallelFor(5) { i in total.add(i, ordering: .relaxed) } }
        #expect(total.load(ordering: .relaxed) == 200 * 10)
    }
}
