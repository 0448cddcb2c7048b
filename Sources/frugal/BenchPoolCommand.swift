import ArgumentParser
import Foundation
import FrugalCore

struct BenchPool: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "pool",
        abstract: "Cost of one parallel region of Frugal's thread pool: an empty parallelFor, in ns per call.",
        discussion: """
            Each row times `calls` parallelFor(tasks) calls whose tasks are busy for `work-us` \
            µs each, one after another, with the calling thread busy for `gap` µs between them (as the serial part of a model runs \
            between two kernels). A gap longer than the pool's spin time (200 µs) shows the \
            cost of waking parked workers. The figures are the median and p90 over the calls. \
            The columns after them follow the tasks a worker ran (calls where one did): the share \
            of such calls, the median time from the call to a worker's first task start \
            ("start"), and from the last worker task's end to the return ("join").
            """)

    @Option(help: "Threads of the pool, the caller's included (default: FRUGAL_NUM_THREADS or the number of cores).")
    var threads: Int?
    @Option(help: "Tasks per parallelFor.") var tasks: Int = 2
    @Option(help: "Calls timed per gap.") var calls: Int = 2000
    @Option(help: "Busy time between calls, µs, comma-separated.") var gaps: String = "0,20,100,1000"
    @Option(help: "Busy time of each task, µs (0: an empty body, which the caller alone may finish).")
    var workUs: Int = 0
    @Flag(help: "Print one JSON object: {threads, tasks, work_us, rows: [{gap_us, median_ns, p90_ns, worker_share, start_ns, join_ns}]}.")
    var json = false

    var parsedGaps: [Int]? {
        let parts = gaps.split(separator: ",").map { Int($0.trimmingCharacters(in: .whitespaces)) }
        return parts.contains(where: { $0 == nil }) ? nil : parts.map { $0! }
    }

    func validate() throws {
        guard let g = parsedGaps, !g.isEmpty, g.allSatisfy({ $0 >= 0 && $0 <= 100_000 }) else {
            throw ValidationError("--gaps takes comma-separated integers from 0 to 100000 (µs), e.g. 0,20,100,1000")
        }
        if let t = threads, t < 1 || t > 1024 { throw ValidationError("--threads must be from 1 to 1024") }
        guard tasks >= 1, tasks <= 1 << 20 else { throw ValidationError("--tasks must be from 1 to 1048576") }
        guard workUs >= 0, workUs <= 100_000 else { throw ValidationError("--work-us must be from 0 to 100000") }
        guard calls >= 10, calls <= 10_000_000 else { throw ValidationError("--calls must be from 10 to 10000000") }
    }

    func run() throws {
        let t = threads ?? ThreadPool.defaultThreadCount()
        let pool = ThreadPool(threadCount: t)
        // Per task, on its own cache line: [start ns, end ns, ran on a worker (0/1)].
        let sink = UnsafeMutablePointer<UInt64>.allocate(capacity: 16 * max(tasks, 1))
        defer { sink.deallocate() }
        func now() -> UInt64 { DispatchTime.now().uptimeNanoseconds }
        let caller = pthread_self()
        var rows: [Row] = []
        for gap in parsedGaps! {
            var ns: [Double] = [], starts: [Double] = [], joins: [Double] = []
            ns.reserveCapacity(calls)
            for c in 0..<(calls + 10) {
                if gap > 0 {
                    let until = now() + UInt64(gap) * 1000
                    while now() < until {}
                }
                let work = UInt64(workUs) * 1000
                let t0 = now()
                pool.parallelFor(tasks) { i in
                    let s = now()
                    if work > 0 {
                        let until = s + work
                        while now() < until {}
                    }
                    sink[i * 16] = s
                    sink[i * 16 + 1] = now()
                    sink[i * 16 + 2] = pthread_equal(pthread_self(), caller) != 0 ? 0 : 1
                }
                let t1 = now()
                if c < 10 { continue }
                ns.append(Double(t1 - t0))
                var first = UInt64.max, last: UInt64 = 0
                for i in 0..<tasks where sink[i * 16 + 2] == 1 {
                    first = min(first, sink[i * 16])
                    last = max(last, sink[i * 16 + 1])
                }
                if first != .max {
                    starts.append(Double(first &- t0))
                    joins.append(Double(t1 &- last))
                }
            }
            rows.append(Row(gap: gap, times: ns, starts: starts, joins: joins))
        }
        if json {
            let out: JSON = [
                "threads": JSON(t), "tasks": JSON(tasks), "work_us": JSON(workUs),
                "rows": .array(rows.map {
                    ["gap_us": JSON($0.gap), "median_ns": JSON($0.median.rounded()), "p90_ns": JSON($0.p90.rounded()),
                     "worker_share": JSON($0.workerShare), "start_ns": JSON($0.start.rounded()),
                     "join_ns": JSON($0.join.rounded())]
                }),
            ]
            print(out.serialized())
        } else {
            print("pool: \(t) threads, parallelFor(\(tasks)), \(workUs) µs per task, \(calls) calls per row")
            print("  gap µs   median ns      p90 ns   worker    start ns     join ns")
            for r in rows {
                print(String(format: "  %6d  %10.0f  %10.0f   %5.1f%%  %10.0f  %10.0f", r.gap, r.median, r.p90,
                             100 * r.workerShare, r.start, r.join))
            }
        }
    }

    /// One gap's figures: call times and, over the calls where a worker ran a task, when
    /// the first such task started and how long after the last one ended the call returned.
    struct Row {
        let gap: Int
        let median: Double, p90: Double, workerShare: Double, start: Double, join: Double

        init(gap: Int, times: [Double], starts: [Double], joins: [Double]) {
            self.gap = gap
            let sorted = times.sorted()
            median = Row.quantile(sorted, 0.5)
            p90 = Row.quantile(sorted, 0.9)
            workerShare = Double(starts.count) / Double(max(1, times.count))
            start = Row.quantile(starts.sorted(), 0.5)
            join = Row.quantile(joins.sorted(), 0.5)
        }

        static func quantile(_ sorted: [Double], _ q: Double) -> Double {
            sorted.isEmpty ? 0 : sorted[min(sorted.count - 1, Int(Double(sorted.count) * q))]
        }
    }
}
