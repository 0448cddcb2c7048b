import Foundation
import FrugalCore
import Synchronization
import Testing

@Suite struct ThreadPoolTests {
    @Test func runsEveryIndexExactlyOnce() {
        let pool = ThreadPool(threadCount: 3)
        for count in [0, 1, 2, 7, 1000] {
            let hits = UnsafeMutableBufferPointer<Int>.allocate(capacity: max(count, 1))
            hits.initialize(repeating: 0)
            defer { hits.deallocate() }
            pool.parallelFor(count) { i in hits[i] += 1 }
            #expect(hits.prefix(count).allSatisfy { $0 == 1 }, "count \(count)")
        }
    }

    @Test func manySmallJobsBackToBack() {
        let pool = ThreadPool(threadCount: 2)
        let total = Atomic<Int>(0)
        for _ in 0..<20_000 { pool.parallelFor(4) { i in total.add(i, ordering: .relaxed) } }
        #expect(total.load(ordering: .relaxed) == 20_000 * 6)
    }

    @Test func chunksCoverTheRange() {
        let pool = ThreadPool(threadCount: 4)
        let sum = Atomic<Int>(0)
        pool.parallelChunks(1001) { r in sum.add(r.reduce(0, +), ordering: .relaxed) }
        #expect(sum.load(ordering: .relaxed) == 1000 * 1001 / 2)
    }

    @Test func threadCountFromEnvironment() {
        #expect(ThreadPool.defaultThreadCount(environment: ["FRUGAL_NUM_THREADS": "3"]) == 3)
        #expect(ThreadPool.defaultThreadCount(environment: ["FRUGAL_NUM_THREADS": "zero"]) >= 1)
    }

    @Test func unevenCountsOverShares() {
        // Shares of 3 threads over counts that do not divide evenly, with some tasks slow
        // enough that other threads take over part of a share.
        let pool = ThreadPool(threadCount: 3)
        for count in [2, 3, 4, 5, 11, 64, 97] {
            let hits = UnsafeMutableBufferPointer<Int>.allocate(capacity: count)
            hits.initialize(repeating: 0)
            defer { hits.deallocate() }
            pool.parallelFor(count) { i in
                if i % 7 == 1 { usleep(200) }
                hits[i] += 1
            }
            #expect(hits.allSatisfy { $0 == 1 }, "count \(count)")
        }
    }

    @Test func nestedCallsRunInline() {
        let pool = ThreadPool(threadCount: 2)
        let hits = UnsafeMutableBufferPointer<Int>.allocate(capacity: 8 * 5)
        hits.initialize(repeating: 0)
        defer { hits.deallocate() }
        pool.parallelFor(8) { i in
            pool.parallelFor(5) { j in hits[i * 5 + j] += 1 }
            pool.parallelChunks(5) { r in for j in r { hits[i * 5 + j] += 1 } }
        }
        #expect(hits.allSatisfy { $0 == 2 })
    }

    @Test func callsFromSeveralThreadsAtOnce() {
        let pool = ThreadPool(threadCount: 2)
        let total = Atomic<Int>(0)
        DispatchQueue.concurrentPerform(iterations: 4) { _ in
            for _ in 0..<500 { pool.parallelFor(6) { i in total.add(i, ordering: .relaxed) } }
        }
        #expect(total.load(ordering: .relaxed) == 4 * 500 * 15)
    }

    @Test func moreTasksThanOneShareHolds() {
        let pool = ThreadPool(threadCount: 2)
        let count = (1 << 20) + 3
        let sum = Atomic<Int>(0)
        pool.parallelFor(count) { i in sum.add(i, ordering: .relaxed) }
        #expect(sum.load(ordering: .relaxed) == count * (count - 1) / 2)
    }

    @Test func moreThreadsThanCoresWithAPreemptedWorker() {
        // 4 threads on however many cores: workers are often off-core while a job runs, and
        // one task sleeps; the others must finish its share and the job must still end.
        let pool = ThreadPool(threadCount: 4)
        let total = Atomic<Int>(0)
        for job in 0..<200 {
            pool.parallelFor(9) { i in
                if job % 50 == 0 && i == 8 { usleep(2000) }
                total.add(1, ordering: .relaxed)
            }
        }
        #expect(total.load(ordering: .relaxed) == 200 * 9)
    }

    @Test func poolsCreatedAndDroppedRepeatedly() {
        let total = Atomic<Int>(0)
        for round in 0..<50 {
            let pool = ThreadPool(threadCount: 2 + round % 3, spinDuration: .microseconds(round % 2 == 0 ? 0 : 50))
            pool.parallelFor(7) { _ in total.add(1, ordering: .relaxed) }
            if round % 5 == 0 { usleep(300) }  // let the workers park before the pool goes
        }
        #expect(total.load(ordering: .relaxed) == 50 * 7)
    }

    @Test func countsParallelRegions() {
        let pool = ThreadPool(threadCount: 2)
        let before = pool.regionCount
        pool.parallelFor(1) { _ in }  // one task: inline, not a region
        pool.parallelFor(4) { _ in }
        pool.parallelChunks(100) { _ in }
        #expect(pool.regionCount - before == 2)
    }
}
