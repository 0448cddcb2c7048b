import Foundation
import FrugalCore
import FrugalEngine
import FrugalONNX
import Testing

/// ONNX Runtime's quantized contrib ops (com.microsoft QLinear*, QGemm) and 8-bit MaxPool:
/// each against a plain reference written here (dequantize, compute in Double, quantize),
/// and a QOperator model written by ONNX Runtime's own quantizer against ONNX Runtime.
@Suite struct QuantizedContribTests {
    /// Runs one node (domain com.microsoft unless `domain` says otherwise); omitted optional
    /// inputs are nil.
    func run(_ op: String, _ inputs: [Tensor?], attributes: [String: AttributeValue] = [:],
             domain: String = "com.microsoft") throws -> Tensor {
        let names = inputs.indices.map { inputs[$0] == nil ? "" : "x\($0)" }
        let fed = inputs.indices.filter { inputs[$0] != nil }
        let g = Graph(nodes: [Node(name: "n", opType: op, domain: domain, inputs: names, outputs: ["y"], attributes: attributes)],
                      inputs: fed.map { ValueInfo(name: names[$0], dtype: inputs[$0]!.dtype, shape: nil) },
                      outputs: [ValueInfo(name: "y", dtype: nil, shape: nil)], opsetImports: ["": 17, "com.microsoft": 1])
        let s = try Session(graph: g, options: SessionOptions(threads: 1, optimize: false))
        return try s.run(Dictionary(uniqueKeysWithValues: fed.map { (names[$0], inputs[$0]!) }))[0]
    }

    func u8(_ dims: [Int], _ v: [Int]) throws -> Tensor { try Tensor(shape: Shape(dims), scalars: v.map { UInt8($0) }) }
    func s8(_ dims: [Int], _ v: [Int]) throws -> Tensor { try Tensor(shape: Shape(dims), scalars: v.map { Int8($0) }) }
    func f(_ v: Float) -> Tensor { Tensor(scalar: v) }

    /// round-half-even(v / scale) + zp, saturated to [lo, hi].
    func q(_ v: Double, _ scale: Double, _ zp: Int, _ lo: Int, _ hi: Int) -> Int {
        min(max(Int((v / scale).rounded(.toNearestOrEven)) + zp, lo), hi)
    }

    /// Pseudo-random bytes in [lo, hi] (a fixed linear congruence).
    func bytes(_ n: Int, seed: Int, lo: Int, hi: Int) -> [Int] {
        var s = UInt64(seed) &* 6364136223846793005 &+ 1442695040888963407
        return (0..<n).map { _ in
            s = s &* 6364136223846793005 &+ 1442695040888963407
            return lo + Int((s >> 33) % UInt64(hi - lo + 1))
        }
    }

    func ints(_ t: Tensor) -> [Int] { t.floatScalars().map { Int($0) } }

    @Test func qlinearAddAndMulBroadcast() throws {
        // A [2, 3, 4] uint8 + B [3, 1] uint8 (broadcast), different scales and zero points.
        let av = bytes(24, seed: 1, lo: 0, hi: 255), bv = bytes(3, seed: 2, lo: 0, hi: 255)
        let (sa, za, sb, zb, sc, zc) = (0.05, 120, 0.11, 7, 0.09, 100)
        for (op, combine) in [("QLinearAdd", { (x: Double, y: Double) in x + y }), ("QLinearMul", { $0 * $1 })] {
            let scale = op == "QLinearMul" ? 0.7 : sc
            let y = try run(op, [try u8([2, 3, 4], av), f(Float(sa)), try u8([], [za]), try u8([3, 1], bv), f(Float(sb)), try u8([], [zb]),
                                 f(Float(scale)), try u8([], [zc])])
            #expect(y.dtype == .uint8 && y.shape == [2, 3, 4])
            var expected: [Int] = []
            for i in 0..<24 {
                let a = Double(av[i] - za) * Double(Float(sa)), b = Double(bv[(i / 4) % 3] - zb) * Double(Float(sb))
                expected.append(q(combine(a, b), Double(Float(scale)), zc, 0, 255))
            }
            let got = ints(y)
            // float32 arithmetic inside vs Double here: at most one step apart, on ties only.
            #expect(zip(got, expected).allSatisfy { abs($0 - $1) <= 1 }, "\(op): \(got) vs \(expected)")
            #expect(zip(got, expected).filter { $0 != $1 }.count <= 1, "\(op): \(got) vs \(expected)")
        }
        // int8 with the zero points omitted.
        let y = try run("QLinearAdd", [try s8([4], [-100, -1, 0, 90]), f(0.5), nil, try s8([4], [-100, 3, 5, 90]), f(0.5), nil, f(1), nil])
        #expect(y.dtype == .int8 && ints(y) == [-100, 1, 2, 90])
    }

    @Test func qlinearGlobalAveragePoolBothLayouts() throws {
        let (n, c, h, w) = (2, 3, 3, 5)
        let xv = bytes(n * c * h * w, seed: 3, lo: 0, hi: 255)
        let (sx, zx, sy, zy) = (Float(0.02), 128, Float(0.01), 130)
        func reference(channelsLast: Bool) -> [Int] {
            (0..<(n * c)).map { nc in
                let (b, ch) = (nc / c, nc % c)
                var sum = 0.0
                for p in 0..<(h * w) {
                    let i = channelsLast ? (b * h * w + p) * c + ch : nc * h * w + p
                    sum += Double(xv[i] - zx) * Double(sx)
                }
                return q(sum / Double(h * w), Double(sy), zy, 0, 255)
            }
        }
        let nchw = try run("QLinearGlobalAveragePool", [try u8([n, c, h, w], xv), f(sx), try u8([], [zx]), f(sy), try u8([], [zy])])
        #expect(nchw.shape == [n, c, 1, 1])
        let nhwc = try run("QLinearGlobalAveragePool", [try u8([n, h, w, c], xv), f(sx), try u8([], [zx]), f(sy), try u8([], [zy])],
                           attributes: ["channels_last": .int(1)])
        #expect(nhwc.shape == [n, 1, 1, c])
        for (got, want) in [(ints(nchw), reference(channelsLast: false)), (ints(nhwc), reference(channelsLast: true))] {
            #expect(zip(got, want).allSatisfy { abs($0 - $1) <= 1 }, "\(got) vs \(want)")
        }
    }

    @Test func qlinearConcatSigmoidLeakyReluSoftmax() throws {
        // Concat of two inputs with their own scales into one output scale.
        let y = try run("QLinearConcat", [f(0.5), try u8([], [10]), try u8([1, 2], [20, 30]), f(0.25), try u8([], [0]),
                                          try u8([1, 1], [7]), f(1), try u8([], [5])], attributes: ["axis": .int(1)])
        #expect(ints(y) == [20, 25, 14])  // 5.0, 7.5, 2.0 at scale 0.5 + 10
        let xv = [-128, -40, -1, 0, 1, 50, 127]
        let sig = try run("QLinearSigmoid", [try s8([7], xv), f(0.05), try s8([], [0]), f(1.0 / 256), try s8([], [-128])])
        let sigRef = xv.map { q(1 / (1 + exp(-Double($0) * Double(Float(0.05)))), Double(Float(1.0 / 256)), -128, -128, 127) }
        #expect(zip(ints(sig), sigRef).allSatisfy { abs($0 - $1) <= 1 }, "\(ints(sig)) vs \(sigRef)")
        let leaky = try run("QLinearLeakyRelu", [try s8([7], xv), f(0.1), nil, f(0.1), nil], attributes: ["alpha": .float(0.25)])
        #expect(ints(leaky) == xv.map { q(Double($0) * ($0 < 0 ? 0.25 : 1), 1, 0, -128, 127) })
        // Softmax along the last axis of [2, 3].
        let sm = try run("QLinearSoftmax", [try u8([2, 3], [0, 10, 20, 5, 5, 5]), f(0.1), nil, f(1.0 / 256), nil],
                         attributes: ["axis": .int(-1), "opset": .int(13)])
        let rows: [[Double]] = [[0, 1, 2], [0.5, 0.5, 0.5]]
        let smRef = rows.flatMap { r in r.map { exp($0) / r.map(exp).reduce(0, +) }.map { q($0, Double(Float(1.0 / 256)), 0, 0, 255) } }
        #expect(zip(ints(sm), smRef).allSatisfy { abs($0 - $1) <= 1 }, "\(ints(sm)) vs \(smRef)")
    }

    @Test func qgemmPerColumnScalesBiasAndFloatOutput() throws {
        let (m, k, n) = (3, 5, 4)
        let av = bytes(m * k, seed: 4, lo: 0, hi: 255), bv = bytes(n * k, seed: 5, lo: -128, hi: 127)
        let bias = [100, -50, 0, 7]
        let (sa, za) = (Float(0.03), 110)
        let sb: [Float] = [0.01, 0.02, 0.005, 0.04]
        let a = try u8([m, k], av), b = try s8([n, k], bv)  // transB: B stored n x k
        let c = try Tensor(shape: [n], scalars: bias.map { Int32($0) })
        let bScale = try Tensor(shape: [n], scalars: sb), bZero = try s8([n], [0, 0, 0, 0])
        var exact: [Double] = []
        for i in 0..<m {
            for j in 0..<n {
                var acc = 0
                for p in 0..<k { acc += (av[i * k + p] - za) * bv[j * k + p] }
                exact.append(Double(acc + bias[j]) * Double(sa) * Double(sb[j]))
            }
        }
        let floatOut = try run("QGemm", [a, f(sa), try u8([], [za]), b, bScale, bZero, c], attributes: ["transB": .int(1)])
        #expect(floatOut.dtype == .float32 && floatOut.shape == [m, n])
        #expect(zip(floatOut.floatScalars(), exact).allSatisfy { abs(Double($0) - $1) <= 1e-5 * max(1, abs($1)) })
        let quant = try run("QGemm", [a, f(sa), try u8([], [za]), b, bScale, bZero, c, f(0.02), try u8([], [128])],
                            attributes: ["transB": .int(1)])
        #expect(quant.dtype == .uint8)
        let want = exact.map { q($0, Double(Float(0.02)), 128, 0, 255) }
        #expect(zip(ints(quant), want).allSatisfy { abs($0 - $1) <= 1 }, "\(ints(quant)) vs \(want)")
    }

    @Test func maxPoolOnEightBitValues() throws {
        let xv = bytes(2 * 5 * 5, seed: 6, lo: 0, hi: 255)
        let y = try run("MaxPool", [try u8([1, 2, 5, 5], xv)], attributes: ["kernel_shape": .ints([2, 2]), "strides": .ints([2, 2])], domain: "")
        #expect(y.dtype == .uint8 && y.shape == [1, 2, 2, 2])
        var want: [Int] = []
        for ch in 0..<2 { for oy in 0..<2 { for ox in 0..<2 {
            want.append([0, 1, 5, 6].map { xv[ch * 25 + oy * 10 + ox * 2 + $0] }.max()!)
        } } }
        #expect(ints(y) == want)
        let s = try run("MaxPool", [try s8([1, 1, 1, 4], [-128, -5, 3, -7])], attributes: ["kernel_shape": .ints([1, 2])], domain: "")
        #expect(s.dtype == .int8 && ints(s) == [-5, 3, 3])
    }

    @Test func badQuantizationParametersNameTheNode() throws {
        // A per-tensor op given a vector scale, and a zero point of the wrong type.
        #expect(throws: EngineError.self) {
            try run("QLinearAdd", [try u8([2], [1, 2]), try Tensor(shape: [2], scalars: [Float(1), 2]), nil, try u8([2], [1, 2]), f(1), nil, f(1), nil])
        }
        do {
            _ = try run("QLinearSigmoid", [try u8([2], [1, 2]), f(1), try s8([], [0]), f(1), nil])
            Issue.record("a zero point of the wrong type was accepted")
        } catch {
            #expect("\(error)".contains("node 'n' (QLinearSigmoid)") && "\(error)".contains("zero point"), "\(error)")
        }
    }

    /// A small float conv net, quantized by ONNX Runtime's quantizer in its QOperator format
    /// (QLinearConv, QLinearAdd, QLinearGlobalAveragePool, QGemm, uint8 MaxPool), run by both.
    @Test(.enabled(if: ORTOracle.isAvailable, "needs .venv with onnxruntime (scripts/setup_python.sh)"))
    func onnxRuntimeQOperatorModelAgrees() throws {
        let script = """
            import sys, numpy as np, onnx
            from onnx import helper as h, numpy_helper as nh, TensorProto as T
            from onnxruntime.quantization import quantize_static, QuantFormat, QuantType, CalibrationDataReader
            d = sys.argv[1]; rng = np.random.default_rng(0)
            def w(*s): return nh.from_array((rng.standard_normal(s) * 0.3).astype(np.float32))
            inits = [w(8, 3, 3, 3), w(8), w(8, 8, 3, 3), w(8), w(8, 5), w(5)]
            for t, n in zip(inits, ["w1", "b1", "w2", "b2", "fw", "fb"]): t.name = n
            nodes = [h.make_node("Conv", ["x", "w1", "b1"], ["c1"], pads=[1, 1, 1, 1]), h.make_node("Relu", ["c1"], ["r1"]),
                     h.make_node("MaxPool", ["r1"], ["p1"], kernel_shape=[2, 2], strides=[2, 2]),
                     h.make_node("Conv", ["p1", "w2", "b2"], ["c2"], pads=[1, 1, 1, 1]), h.make_node("Add", ["c2", "p1"], ["s"]),
                     h.make_node("GlobalAveragePool", ["s"], ["g"]), h.make_node("Flatten", ["g"], ["f"]),
                     h.make_node("Gemm", ["f", "fw", "fb"], ["y"])]
            g = h.make_graph(nodes, "q", [h.make_tensor_value_info("x", T.FLOAT, [2, 3, 12, 12])],
                             [h.make_tensor_value_info("y", T.FLOAT, [2, 5])], inits)
            onnx.save(h.make_model(g, opset_imports=[h.make_opsetid("", 17)]), d + "/f.onnx")
            class R(CalibrationDataReader):
                def __init__(s): s.it = iter([{"x": rng.standard_normal((2, 3, 12, 12)).astype(np.float32)} for _ in range(4)])
                def get_next(s): return next(s.it, None)
            quantize_static(d + "/f.onnx", d + "/q.onnx", R(), quant_format=QuantFormat.QOperator,
                            activation_type=QuantType.QUInt8, weight_type=QuantType.QInt8)
            print(",".join(sorted({n.op_type for n in onnx.load(d + "/q.onnx").graph.node})))
            """
        try ORTOracle.withScript(script) { dir, lines in
            let ops = lines.last ?? ""
            #expect(ops.contains("QLinearAdd") && ops.contains("QGemm") && ops.contains("QLinearGlobalAveragePool"), "ops: \(ops)")
            var rng = SystemRandomNumberGenerator()
            let x = try Tensor(shape: [2, 3, 12, 12], scalars: (0..<(2 * 3 * 144)).map { _ in Float.random(in: -2...2, using: &rng) })
            let model = dir.appendingPathComponent("q.onnx").path
            let theirs = try ORTOracle.run(model: model, inputs: ["x": x])[0]
            let ours = try Session(graph: try ONNXImporter.load(path: model)).run(["x": x])[0]
            #expect(ours.shape == theirs.shape)
            // The output is dequantized from uint8: allow two quantization steps of its scale
            // (ties round differently in ONNX Runtime's fixed-point kernels).
            let range = (theirs.floatScalars().max() ?? 0) - (theirs.floatScalars().min() ?? 0)
            let worst = zip(ours.floatScalars(), theirs.floatScalars()).map { abs($0 - $1) }.max() ?? 0
            #expect(worst <= 2 * max(range, 1e-3) / 255 + 1e-6, "max |diff| \(worst), output range \(range)")
        }
    }
}
