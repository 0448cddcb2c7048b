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
}
