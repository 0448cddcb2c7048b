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
            let err = maxRelativeError(y, expected)
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

    @Test func mobileNetV2MatchesONNXRuntime() throws {
        let dir = EngineFixtures.sharedModel("mobilenetv2")
        guard FileManager.default.fileExists(atPath: dir + "/model.onnx") else {
            print("note: \(dir) is absent; skipping the MobileNetV2 comparison")
            return
        }
        let y = try check(dir)
        #expect(argmaxRows(y) == [285, 967, 450, 540, 872, 285])
    }
}
