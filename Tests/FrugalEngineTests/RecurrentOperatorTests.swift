import Foundation
import FrugalCore
import FrugalEngine
import FrugalONNX
import Testing

/// RNN, GRU and LSTM in the variants ONNX's node tests leave out (bidirectional, reverse
/// with per-entry sequence lengths, batch-first layout, clip, peepholes, input_forget,
/// linear_before_reset, non-default activations), each against ONNX Runtime; plus shape
/// errors that name the node.
@Suite struct RecurrentOperatorTests {
    @Test(.enabled(if: ORTOracle.isAvailable, "needs .venv with onnxruntime (scripts/setup_python.sh)"))
    func variantsAgreeWithONNXRuntime() throws {
        // ONNX Runtime runs layout 0 only: each case is written in layout 0 (run by ONNX
        // Runtime) and in layout 1 (batch-first; expected = ONNX Runtime's outputs transposed).
        let script = """
            import sys, numpy as np, onnx, onnxruntime as ort
            from onnx import helper as h, TensorProto as T
            d = sys.argv[1]; rng = np.random.default_rng(0)
            def f(*s): return (rng.standard_normal(s) * 0.5).astype(np.float32)
            cases = [
              # name, op, gates, dirs, attrs, extras (B, seq_lens, initial_h, initial_c, P)
              ("lstm_bi", "LSTM", 4, 2, dict(direction="bidirectional", clip=1.5), "BSHCP"),
              ("lstm_if", "LSTM", 4, 1, dict(direction="reverse", input_forget=1, activations=["HardSigmoid", "Tanh", "Softsign"], activation_alpha=[0.3], activation_beta=[0.4]), "BS"),
              ("gru_lbr", "GRU", 3, 2, dict(direction="bidirectional", linear_before_reset=1), "BSH"),
              ("gru_rev", "GRU", 3, 1, dict(direction="reverse"), "BSH"),
              ("rnn_bi", "RNN", 1, 2, dict(direction="bidirectional", activations=["Relu", "Tanh"]), "BSH"),
            ]
            seq, batch, inp, hid = 5, 3, 4, 6
            for name, op, g, dirs, attrs, extras in cases:
                feeds = {"X": f(seq, batch, inp), "W": f(dirs, g * hid, inp), "R": f(dirs, g * hid, hid)}
                names = ["X", "W", "R", "", "", "", "", ""]
                if "B" in extras: feeds["B"] = f(dirs, 2 * g * hid); names[3] = "B"
                if "S" in extras: feeds["L"] = np.array([5, 2, 0], np.int32); names[4] = "L"
                if "H" in extras: feeds["H0"] = f(dirs, batch, hid); names[5] = "H0"
                if "C" in extras: feeds["C0"] = f(dirs, batch, hid); names[6] = "C0"
                if "P" in extras: feeds["P"] = f(dirs, 3 * hid); names[7] = "P"
                while names and names[-1] == "": names.pop()
                outs = ["Y", "Yh"] + (["Yc"] if op == "LSTM" else [])
                for layout in (0, 1):
                    fd = dict(feeds)
                    if layout == 1:
                        fd["X"] = feeds["X"].transpose(1, 0, 2).copy()
                        for k in ("H0", "C0"):
                            if k in fd: fd[k] = feeds[k].transpose(1, 0, 2).copy()
                    node = h.make_node(op, names, outs, hidden_size=hid, layout=layout, **attrs)
                    ins = [h.make_tensor_value_info(k, T.INT32 if k == "L" else T.FLOAT, list(v.shape)) for k, v in fd.items()]
                    g_ = h.make_graph([node], name, ins, [h.make_tensor_value_info(o, T.FLOAT, None) for o in outs])
                    tag = f"{name}_l{layout}"
                    onnx.save(h.make_model(g_, opset_imports=[h.make_opsetid("", 14)]), f"{d}/{tag}.onnx")
                    for k, v in fd.items(): np.save(f"{d}/{tag}.in.{k}.npy", v)
                    print(tag, " ".join(fd))
                res = ort.InferenceSession(f"{d}/{name}_l0.onnx", providers=["CPUExecutionProvider"]).run(None, feeds)
                for i, r in enumerate(res):
                    np.save(f"{d}/{name}_l0.out.{i}.npy", r)
                    np.save(f"{d}/{name}_l1.out.{i}.npy", (r.transpose(2, 0, 1, 3) if i == 0 else r.transpose(1, 0, 2)).copy())
            """
        try ORTOracle.withScript(script) { dir, lines in
            #expect(lines.count == 10)
            for line in lines {
                let parts = line.split(separator: " ").map(String.init)
                let tag = parts[0]
                var feeds: [String: Tensor] = [:]
                for k in parts.dropFirst() { feeds[k] = try NPY.read(path: dir.appendingPathComponent("\(tag).in.\(k).npy").path) }
                let ours = try Session(graph: try ONNXImporter.load(path: dir.appendingPathComponent("\(tag).onnx").path)).run(feeds)
                for (i, a) in ours.enumerated() {
                    let b = try NPY.read(path: dir.appendingPathComponent("\(tag).out.\(i).npy").path)
                    #expect(a.shape == b.shape, "\(tag) output \(i): \(a.shape) vs \(b.shape)")
                    let worst = zip(a.floatScalars(), b.floatScalars()).map { abs($0 - $1) }.max() ?? 0
                    #expect(worst <= 1e-5, "\(tag) output \(i): max |diff| \(worst)")
                }
            }
        }
    }

    @Test func shapeErrorsNameTheNode() throws {
        func run(_ w: [Int], _ r: [Int], _ attributes: [String: AttributeValue] = [:]) throws {
            let x = try Tensor(zeros: [2, 1, 3]), wt = try Tensor(zeros: Shape(w)), rt = try Tensor(zeros: Shape(r))
            let g = Graph(nodes: [Node(name: "cell", opType: "LSTM", inputs: ["x", "w", "r"], outputs: ["y"], attributes: attributes)],
                          inputs: [ValueInfo(name: "x", dtype: .float32, shape: nil), ValueInfo(name: "w", dtype: .float32, shape: nil),
                                   ValueInfo(name: "r", dtype: .float32, shape: nil)],
                          outputs: [ValueInfo(name: "y", dtype: nil, shape: nil)], opsetImports: ["": 14])
            _ = try Session(graph: g, options: SessionOptions(threads: 1, optimize: false)).run(["x": x, "w": wt, "r": rt])
        }
        try run([1, 8, 3], [1, 8, 2])  // hidden 2: fine
        for (w, r, a) in [([1, 8, 4], [1, 8, 2], [:]), ([1, 8, 3], [1, 8, 3], [:]), ([1, 8, 3], [1, 8, 2], ["hidden_size": AttributeValue.int(3)]),
                          ([1, 8, 3], [1, 8, 2], ["direction": .string("sideways")]), ([1, 8, 3], [1, 8, 2], ["activations": .strings(["Sigmoid"])])] {
            do {
                try run(w, r, a)
                Issue.record("W \(w), R \(r), \(a) was accepted")
            } catch {
                #expect("\(error)".contains("node 'cell' (LSTM)"), "\(error)")
            }
        }
    }
}
