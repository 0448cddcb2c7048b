import Foundation
import FrugalCore
import FrugalEngine
import FrugalONNX
import Testing

/// Two real models against ONNX Runtime's outputs: PaddleOCR's direction classifier
/// (fixture, opset 11) and MobileNetV2 (read from ../shared/models, skipped when absent).
@Suite struct RealModelTests {
    /// Runs `model` on `input_0.npy` in `dir` with 1 and 2 threads; returns the outputs and
    /// checks each against `output_0.npy` within `tolerance` relative.
    func check(_ dir: String, tolerance: Float = 1e-4) throws -> Tensor {
        let graph = try ONNXImporter.load(path: dir + "/model.onnx")
        let x = try NPY.read(path: dir + "/input_0.npy")
        let expected = try NPY.read(path: dir + "/output_0.npy")
        var last = expected
        for threads in [1, 2] {
            let runner = try ModelRunner(graph: graph, threads: threads)
            let y = try runner.run([graph.inputs[0].name: x])[0]
            #expect(y.shape == expected.shape)
            let err = modelRelativeError(y, expected)
            #expect(err <= tolerance, "\(dir) with \(threads) threads: max relative error \(err)")
            if ProcessInfo.processInfo.environment["FRUGAL_REPORT"] != nil {
                print("\(dir) \(threads)T: max relative error \(err), max absolute error \(maxAbsoluteError(y, expected))")
            }
            last = y
        }
        return last
    }

    @Test func ppocrDirectionClassifierMatchesONNXRuntime() throws {
        let y = try check(EngineFixtures.path("ppocr_cls"))
        let expected = try NPY.read(path: EngineFixtures.path("ppocr_cls/output_0.npy"))
        #expect(argmaxRows(y) == argmaxRows(expected))
    }

    /// Runs reuse released activation buffers: outputs handed out earlier must not change
    /// when the session runs again, and later runs must match a fresh session.
    @Test func repeatedRunsKeepEarlierOutputs() throws {
        let dir = EngineFixtures.path("ppocr_cls")
        let graph = try ONNXImporter.load(path: dir + "/model.onnx")
        let x = try NPY.read(path: dir + "/input_0.npy")
        let expected = try NPY.read(path: dir + "/output_0.npy")
        let name = graph.inputs[0].name
        for threads in [1, 2] {
            let session = try Session(graph: graph, options: SessionOptions(threads: threads))
            let first = try session.run([name: x])[0]
            let firstValues = first.scalars(as: Float.self)
            var other = x
            other.withUnsafeMutableBufferPointer(as: Float.self) { p in for i in p.indices { p[i] = -p[i] * 0.5 } }
            let second = try session.run([name: other])[0]
            #expect(first.scalars(as: Float.self) == firstValues, "an earlier output changed")
            let fresh = try Session(graph: graph, options: SessionOptions(threads: threads)).run([name: other])[0]
            #expect(second.scalars(as: Float.self) == fresh.scalars(as: Float.self))
            let third = try session.run([name: x])[0]
            #expect(modelRelativeError(third, expected) <= 1e-4)
            #expect(session.context.buffers.bytesHeld > 0, "released buffers were not recycled")
        }
    }

    @Test func mobileNetV2MatchesONNXRuntime() throws {
        let dir = EngineFixtures.sharedModel("mobilenetv2")
        guard FileManager.default.fileExists(atPath: dir + "/model.onnx") else {
            print("note: \(dir) is absent; skipping the MobileNetV2 comparison")
            return
        }
        let y = try check(dir)
        #expect(argmaxRows(y) == [285, 967, 450, 540, 872, 285])
    }

    /// Opt-in latency report (FRUGAL_BENCH=1): MobileNetV2, batch 1 and 8, 1 and 2 threads,
    /// median of 30 warm runs, and where the time goes.
    @Test func mobileNetV2Latency() throws {
        guard ProcessInfo.processInfo.environment["FRUGAL_BENCH"] != nil else { return }
        let dir = EngineFixtures.sharedModel("mobilenetv2")
        guard FileManager.default.fileExists(atPath: dir + "/model.onnx") else { return }
        let graph = try ONNXImporter.load(path: dir + "/model.onnx")
        let runs = Int(ProcessInfo.processInfo.environment["FRUGAL_BENCH_RUNS"] ?? "30") ?? 30
        for threads in [1, 2] {
            let runner = try ModelRunner(graph: graph, threads: threads)
            for batch in [1, 8] {
                var rng = SystemRandomNumberGenerator()
                let x = try Tensor(shape: [batch, 3, 224, 224], scalars: (0..<(batch * 3 * 224 * 224)).map { _ in Float.random(in: -2...2, using: &rng) })
                for _ in 0..<3 { _ = try runner.run(["input": x]) }
                var times: [Double] = []
                var profile: [String: Double] = [:]
                for _ in 0..<runs {
                    let t0 = DispatchTime.now().uptimeNanoseconds
                    _ = try runner.run(["input": x])
                    times.append(Double(DispatchTime.now().uptimeNanoseconds - t0) * 1e-6)
                    for (k, v) in runner.lastProfile { profile[k, default: 0] += v / Double(runs) }
                }
                times.sort()
                let split = profile.sorted { $0.value > $1.value }.map { "\($0.key) \(String(format: "%.2f", $0.value * 1e3))" }.joined(separator: ", ")
                print("MobileNetV2 threads=\(threads) batch=\(batch): median \(String(format: "%.2f", times[times.count / 2])) ms [\(split)]")
            }
        }
    }
}
