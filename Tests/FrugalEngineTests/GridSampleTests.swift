import Foundation
import FrugalCore
import FrugalEngine
import FrugalONNX
import Testing

/// GridSample in every mode × padding × align_corners, on grids reaching well outside
/// [-1, 1], against ONNX Runtime (ONNX's node tests cover a handful of these).
@Suite struct GridSampleTests {
    @Test(.enabled(if: ORTOracle.isAvailable, "needs .venv with onnxruntime (scripts/setup_python.sh)"))
    func everyModeAgreesWithONNXRuntime() throws {
        let script = """
            import sys, itertools, numpy as np, onnx, onnxruntime as ort
            from onnx import helper as h, TensorProto as T
            d = sys.argv[1]; rng = np.random.default_rng(0)
            x = rng.standard_normal((2, 3, 5, 7)).astype(np.float32)
            g = (rng.standard_normal((2, 4, 6, 2)) * 1.5).astype(np.float32)
            np.save(f"{d}/x.npy", x); np.save(f"{d}/g.npy", g)
            for opset, mode, pad, ac in [(20, m, p, a) for m, p, a in itertools.product(["linear", "nearest", "cubic"], ["zeros", "border", "reflection"], [0, 1])] + [(16, "bicubic", "border", 0), (16, "bilinear", "reflection", 1)]:
                tag = f"{opset}_{mode}_{pad}_{ac}"
                n = h.make_node("GridSample", ["x", "g"], ["y"], mode=mode, padding_mode=pad, align_corners=ac)
                gr = h.make_graph([n], "g", [h.make_tensor_value_info("x", T.FLOAT, x.shape), h.make_tensor_value_info("g", T.FLOAT, g.shape)],
                                  [h.make_tensor_value_info("y", T.FLOAT, None)])
                onnx.save(h.make_model(gr, opset_imports=[h.make_opsetid("", opset)]), f"{d}/{tag}.onnx")
                y = ort.InferenceSession(f"{d}/{tag}.onnx", providers=["CPUExecutionProvider"]).run(None, {"x": x, "g": g})[0]
                np.save(f"{d}/{tag}.out.npy", y)
                print(tag)
            """
        try ORTOracle.withScript(script) { dir, tags in
            #expect(tags.count == 20)
            let feeds = ["x": try NPY.read(path: dir.appendingPathComponent("x.npy").path),
                         "g": try NPY.read(path: dir.appendingPathComponent("g.npy").path)]
            for tag in tags {
                let ours = try Session(graph: try ONNXImporter.load(path: dir.appendingPathComponent("\(tag).onnx").path)).run(feeds)[0]
                let theirs = try NPY.read(path: dir.appendingPathComponent("\(tag).out.npy").path)
                #expect(ours.shape == theirs.shape, "\(tag)")
                let worst = zip(ours.floatScalars(), theirs.floatScalars()).map { abs($0 - $1) }.max() ?? 0
                #expect(worst <= 1e-4, "\(tag): max |diff| \(worst)")
            }
        }
    }
}
