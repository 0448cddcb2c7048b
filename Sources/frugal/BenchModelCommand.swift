import ArgumentParser
import Foundation
import FrugalCore
import FrugalEngine
import FrugalONNX

struct BenchModel: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "model",
        abstract: "Time an ONNX model: median and p90 latency of warm runs, throughput, peak memory.",
        discussion: """
            Inputs are random tensors of the graph's declared shapes; the first symbolic dimension \
            of each input is the batch (--batch), other symbolic dimensions must be given with \
            --dim NAME=VALUE, or whole input shapes with --shape NAME=D0,D1,... The timed runs \
            follow a warm-up of at least 3 runs and 0.3 s. \
            `frugal bench MODEL.onnx` is short for `frugal bench model MODEL.onnx`.
            """)

    @Argument(help: "The model (.onnx).") var model: String
    @Option(help: "Batch size.") var batch: Int = 1
    @Option(help: "Threads (default: FRUGAL_NUM_THREADS or the number of cores).") var threads: Int?
    @Option(help: "Warm runs to time (at least 30).") var runs: Int = 30
    @Option(name: .customLong("dim"), help: "NAME=VALUE for a symbolic dimension (repeatable).") var dims: [String] = []
    @Option(name: .customLong("shape"), help: "NAME=D0,D1,... the whole shape of an input, e.g. x=1,3,48,192 (repeatable; overrides --batch and --dim for that input).")
    var shapes: [String] = []
    @Flag(help: "Also time every node (median over the warm runs) and list them, slowest first; JSON adds \"parallel_regions_per_run\" and \"nodes\": [{name, op_type, median_ms, parallel_regions}] (regions a node started on the thread pool in the last run).")
    var profile = false
    @Option(help: "Fused inverted-residual blocks (expand 1x1 -> depthwise -> project 1x1 Conv run band by band): auto (where the shapes make it pay), off (separate convolutions), bands (always in bands, for comparisons) or channels (always as one parallel region split by expanded channels, for comparisons).")
    var convBlocks: String = "auto"
    @Flag(help: "Print one JSON object: {median_ms, p90_ms, throughput_per_s, batch, threads, peak_memory_bytes}.")
    var json = false

    func validate() throws {
        guard batch >= 1 else { throw ValidationError("--batch must be at least 1") }
        guard runs >= 30 else { throw ValidationError("--runs must be at least 30") }
        guard ["auto", "off", "bands", "channels"].contains(convBlocks) else {
            throw ValidationError("--conv-blocks must be auto, off, bands or channels (got '\(convBlocks)')")
        }
    }

    func run() throws {
        try runReportingErrors {
            let named = try namedDimensions(dims)
            let given = try inputShapes(shapes)
            let graph = try ONNXImporter.load(path: model)
            let t = threads ?? ThreadPool.defaultThreadCount()
            let session = try Session(graph: graph, options: SessionOptions(
                threads: t, profile: profile,
                convBlocks: convBlocks == "off" ? .off : convBlocks == "bands" ? .always(bandRows: 0)
                    : convBlocks == "channels" ? .channels : .auto))
            let feeds = try RandomInputs.make(for: session.plan.requiredInputs, batch: batch, named: named, shapes: given)
            // With --shape, the batch is that shape's first dimension.
            let batch = given.values.first.flatMap(\.first) ?? self.batch
            // Warm-up: at least 3 runs and 0.3 s. A fresh process's threads run slower for the
            // first ~0.1-0.2 s (LeNet-300-100 batch 64 / 2 threads: 0.21 ms per run in most
            // processes timed over their first 30-300 runs, 0.126 ms in every process timed
            // after 1,000), so a count of runs alone would time the process start-up.
            let warmStart = DispatchTime.now().uptimeNanoseconds
            var warmRuns = 0
            while warmRuns < 3 || DispatchTime.now().uptimeNanoseconds - warmStart < 300_000_000 {
                _ = try session.run(feeds)
                warmRuns += 1
            }
            let regionsBefore = session.context.pool.regionCount
            var times: [Double] = []
            var nodeTimes: [[Double]] = []
            for _ in 0..<runs {
                let t0 = DispatchTime.now().uptimeNanoseconds
                _ = try session.run(feeds)
                times.append(Double(DispatchTime.now().uptimeNanoseconds - t0) * 1e-6)
                if profile {
                    let p = session.lastProfile
                    if nodeTimes.isEmpty { nodeTimes = Array(repeating: [], count: p.count) }
                    for (i, n) in p.enumerated() where i < nodeTimes.count { nodeTimes[i].append(n.seconds * 1e3) }
                }
            }
            let profiled = session.lastProfile.enumerated().map { i, n -> (String, String, Double, Int) in
                let ts = i < nodeTimes.count ? nodeTimes[i].sorted() : [0]
                return (n.name, n.opType, ts.isEmpty ? 0 : ts[ts.count / 2], n.parallelRegions)
            }.sorted { $0.2 > $1.2 }
            let regionsPerRun = Double(session.context.pool.regionCount - regionsBefore) / Double(runs)
            times.sort()
            let median = times[times.count / 2], p90 = times[min(times.count - 1, Int(Double(times.count) * 0.9))]
            let throughput = Double(batch) / (median / 1000)
            if json {
                let out: JSON = ["median_ms": JSON(rounded(median, 4)), "p90_ms": JSON(rounded(p90, 4)),
                                 "throughput_per_s": JSON(rounded(throughput, 2)), "batch": JSON(batch), "threads": JSON(t),
                                 "peak_memory_bytes": JSON(session.peakActivationBytes)]
                var obj = out
                if profile, case .object(var fields) = out {
                    fields.append(("parallel_regions_per_run", JSON(rounded(regionsPerRun, 1))))
                    fields.append(("nodes", .array(profiled.map { .object([("name", JSON($0.0)), ("op_type", JSON($0.1)), ("median_ms", JSON(rounded($0.2, 4))), ("parallel_regions", JSON($0.3))]) })))
                    obj = .object(fields)
                }
                print(obj.serialized())
            } else {
                print("\(model): batch \(batch), \(t) thread\(t == 1 ? "" : "s"), \(runs) warm runs")
                print(String(format: "  median %.3f ms, p90 %.3f ms, %.1f inferences/s", median, p90, throughput))
                print("  peak activation memory: \(session.peakActivationBytes) bytes")
                if profile { print(String(format: "  parallel regions per run: %.1f", regionsPerRun)) }
                for (name, op, ms, regions) in profiled {
                    let threaded = regions > 0 ? ", \(regions) parallel region\(regions == 1 ? "" : "s")" : ""
                    print(String(format: "  %10.4f ms  %@ (%@%@)", ms, name, op, threaded))
                }
            }
        }
    }
}

/// Random inputs for a graph's declared inputs.
enum RandomInputs {
    static func make(for inputs: [ValueInfo], batch: Int, named: [String: Int],
                     shapes given: [String: [Int]] = [:]) throws -> [String: Tensor] {
        var feeds: [String: Tensor] = [:]
        if let unknown = given.keys.sorted().first(where: { k in !inputs.contains { $0.name == k } }) {
            throw ValidationError("--shape names '\(unknown)', which is not an input of the model (inputs: \(inputs.map(\.name).joined(separator: ", ")))")
        }
        // Seeded, so two runs time the same data (and no system call per element).
        var rng = SplitMix64(state: 0x5EED)
        for info in inputs {
            guard let dims = info.shape, let dtype = info.dtype else {
                throw ValidationError("input '\(info.name)' has no declared shape or a type Frugal does not compute with")
            }
            var shape: [Int] = []
            if let g = given[info.name] {
                guard g.count == dims.count else {
                    throw ValidationError("--shape \(info.name) has \(g.count) dimensions; the model declares \(dims.count)")
                }
                for (i, d) in dims.enumerated() {
                    if case .fixed(let v) = d, v != g[i] {
                        throw ValidationError("--shape \(info.name): dimension \(i) is fixed at \(v) in the model, not \(g[i])")
                    }
                }
                shape = g
            } else {
            for (i, d) in dims.enumerated() {
                switch d {
                case .fixed(let v): shape.append(v)
                case .symbolic(let s) where named[s] != nil: shape.append(named[s]!)
                case _ where i == 0: shape.append(batch)
                default:
                    throw ValidationError("input '\(info.name)' dimension \(i) is '\(d)'; give it with --dim \(d)=VALUE, or the whole shape with --shape \(info.name)=D0,D1,...")
                }
            }
            }
            var t = try Tensor(zeros: Shape(shape), dtype: dtype)
            switch dtype {
            case .float32: t.withUnsafeMutableBufferPointer(as: Float.self) { p in for i in p.indices { p[i] = Float.random(in: -1...1, using: &rng) } }
            case .uint8: t.withUnsafeMutableBufferPointer(as: UInt8.self) { p in for i in p.indices { p[i] = UInt8.random(in: 0...255, using: &rng) } }
            case .int8: t.withUnsafeMutableBufferPointer(as: Int8.self) { p in for i in p.indices { p[i] = Int8.random(in: -128...127, using: &rng) } }
            default: break
            }
            feeds[info.name] = t
        }
        return feeds
    }
}
