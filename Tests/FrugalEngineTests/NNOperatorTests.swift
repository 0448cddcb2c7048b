import Foundation
import FrugalCore
import FrugalEngine
import Testing

/// Known values and bad inputs for Conv, ConvTranspose, Gemm, MatMul, the pools and the
/// normalizations, each run as a one-node graph through a Session.
@Suite struct NNOperatorTests {
    /// Runs one node whose inputs are all fed (names x0, x1, ...); returns its outputs.
    func run(_ op: String, _ inputs: [Tensor], outputs: Int = 1, attributes: [String: AttributeValue] = [:],
             opset: Int = 17, threads: Int = 1) throws -> [Tensor] {
        let ins = inputs.indices.map { "x\($0)" }, outs = (0..<outputs).map { "y\($0)" }
        let g = Graph(nodes: [Node(name: "n", opType: op, inputs: ins, outputs: outs, attributes: attributes)],
                      inputs: zip(ins, inputs).map { ValueInfo(name: $0, dtype: $1.dtype, shape: nil) },
                      outputs: outs.map { ValueInfo(name: $0, dtype: nil, shape: nil) }, opsetImports: ["": opset])
        let s = try Session(graph: g, options: SessionOptions(threads: threads, optimize: false))
        return try s.run(Dictionary(uniqueKeysWithValues: zip(ins, inputs)))
    }

    func t(_ dims: [Int], _ v: [Float]) throws -> Tensor { try Tensor(shape: Shape(dims), scalars: v) }
    func close(_ a: Tensor, _ e: [Float]) -> Bool {
        a.elementCount == e.count && zip(a.floatScalars(), e).allSatisfy { abs($0 - $1) <= 1e-6 * max(1, abs($1)) }
    }
    func iota(_ dims: [Int]) throws -> Tensor { try t(dims, (0..<dims.reduce(1, *)).map(Float.init)) }

    @Test func conv2DKnownValues() throws {
        let x = try iota([1, 1, 3, 3]), w = try t([1, 1, 2, 2], [1, 1, 1, 1])
        #expect(try run("Conv", [x, w])[0].floatScalars() == [8, 12, 20, 24])
        // SAME_UPPER keeps 3x3 (pads end by one); bias adds; fused Relu clamps negatives.
        let same = try run("Conv", [x, w, try t([1], [-20])], attributes: ["auto_pad": .string("SAME_UPPER")])[0]
        #expect(same.shape == [1, 1, 3, 3])
        #expect(same.floatScalars() == [-12, -8, -13, 0, 4, -7, -7, -5, -12])
        let relu = try run("Conv", [x, w, try t([1], [-20])], attributes: ["auto_pad": .string("SAME_UPPER"), "frugal.activation": .string("Relu")])[0]
        #expect(relu.floatScalars() == [0, 0, 0, 0, 4, 0, 0, 0, 0])
        // Strides 2 with pads 1: windows at (-1,-1), (-1,1), (1,-1), (1,1).
        let strided = try run("Conv", [x, w], attributes: ["strides": .ints([2, 2]), "pads": .ints([1, 1, 1, 1])])[0]
        #expect(strided.floatScalars() == [0, 3, 9, 24])
    }

    @Test func conv1DAnd3DAndGroups() throws {
        let x = try iota([1, 2, 5]), w = try t([2, 1, 3], [1, 0, -1, 1, 1, 1])
        // group 2: channel 0 with [1,0,-1], channel 1 with [1,1,1]; dilation 2.
        let y = try run("Conv", [x, w], attributes: ["group": .int(2), "dilations": .ints([2])])[0]
        #expect(y.shape == [1, 2, 1])
        let expected1D: [Float] = [-4, 21]
        #expect(y.floatScalars() == expected1D)
        let x3 = try iota([1, 1, 2, 2, 2]), w3 = try t([1, 1, 2, 2, 2], Array(repeating: 1, count: 8))
        #expect(try run("Conv", [x3, w3])[0].floatScalars() == [28])
    }

    @Test func convTransposeKnownValues() throws {
        // 1-D: [1, 2] with kernel [1, 1, 1], stride 2 -> [1, 1, 3, 2, 2].
        let y = try run("ConvTranspose", [try t([1, 1, 2], [1, 2]), try t([1, 1, 3], [1, 1, 1])], attributes: ["strides": .ints([2])])[0]
        #expect(y.floatScalars() == [1, 1, 3, 2, 2])
        let cut = try run("ConvTranspose", [try t([1, 1, 2], [1, 2]), try t([1, 1, 3], [1, 1, 1])],
                          attributes: ["strides": .ints([2]), "pads": .ints([1, 1])])[0]
        #expect(cut.floatScalars() == [1, 3, 2])
    }

    @Test func gemmAndMatMul() throws {
        let a = try iota([2, 3]), b = try iota([3, 2])
        #expect(try run("Gemm", [a, b])[0].floatScalars() == [10, 13, 28, 40])
        // transA/transB, alpha, beta, C broadcast from [2].
        let y = try run("Gemm", [try iota([3, 2]), try iota([2, 3]), try t([2], [1, -1])],
                        attributes: ["transA": .int(1), "transB": .int(1), "alpha": .float(2), "beta": .float(3)])[0]
        // A^T = [[0,2,4],[1,3,5]], B^T = [[0,3],[1,4],[2,5]] -> [[10,28],[13,40]].
        #expect(y.floatScalars() == [23, 53, 29, 77])
        // MatMul: batched [2,2,3] x [3,2]; 1-D x 1-D; [3] x [2,3,2] broadcast.
        let batched = try run("MatMul", [try iota([2, 2, 3]), b])[0]
        #expect(batched.shape == [2, 2, 2])
        #expect(batched.floatScalars() == [10, 13, 28, 40, 46, 67, 64, 94])
        #expect(try run("MatMul", [try t([3], [1, 2, 3]), try t([3], [4, 5, 6])])[0].floatScalars() == [32])
        let vecMat = try run("MatMul", [try t([3], [1, 1, 1]), try iota([2, 3, 2])])[0]
        #expect(vecMat.shape == [2, 2])
        #expect(vecMat.floatScalars() == [6, 9, 24, 27])
    }

    @Test func poolsKnownValues() throws {
        let x = try iota([1, 1, 3, 3])
        let outs = try run("MaxPool", [x], outputs: 2, attributes: ["kernel_shape": .ints([2, 2])])
        #expect(outs[0].floatScalars() == [4, 5, 7, 8])
        #expect(outs[1].scalars(as: Int64.self) == [4, 5, 7, 8])
        let colMajor = try run("MaxPool", [x], outputs: 2, attributes: ["kernel_shape": .ints([2, 2]), "storage_order": .int(1)])
        #expect(colMajor[1].scalars(as: Int64.self) == [4, 7, 5, 8])
        let padded: [String: AttributeValue] = ["kernel_shape": .ints([2, 2]), "strides": .ints([2, 2]), "pads": .ints([1, 1, 1, 1])]
        #expect(try run("AveragePool", [x], attributes: padded)[0].floatScalars() == [0, 1.5, 4.5, 6])
        var includePad = padded
        includePad["count_include_pad"] = .int(1)
        #expect(try run("AveragePool", [x], attributes: includePad)[0].floatScalars() == [0, 0.75, 2.25, 6])
        let ceil = try run("MaxPool", [x], attributes: ["kernel_shape": .ints([2, 2]), "strides": .ints([2, 2]), "ceil_mode": .int(1)])[0]
        #expect(ceil.floatScalars() == [4, 5, 7, 8])
        #expect(try run("GlobalAveragePool", [x])[0].floatScalars() == [4])
        #expect(try run("GlobalMaxPool", [x])[0].floatScalars() == [8])
        let p3 = try run("MaxPool", [try iota([1, 1, 2, 2, 2])], attributes: ["kernel_shape": .ints([2, 2, 2])])[0]
        #expect(p3.floatScalars() == [7])
    }

    @Test func normalizationsKnownValues() throws {
        let x = try t([1, 2, 2], [1, 3, 10, 20])
        let one = try t([2], [1, 1]), zero = try t([2], [0, 0])
        let bn = try run("BatchNormalization", [x, try t([2], [2, 1]), try t([2], [1, 0]), try t([2], [2, 10]), try t([2], [4, 1])],
                         attributes: ["epsilon": .float(0)])[0]
        #expect(bn.floatScalars() == [0, 2, 0, 10])
        let inorm = try run("InstanceNormalization", [x, one, zero], attributes: ["epsilon": .float(0)])[0]
        #expect(close(inorm, [-1, 1, -1, 1]))
        let ln = try run("LayerNormalization", [x, one, zero], outputs: 3, attributes: ["epsilon": .float(0)])
        #expect(close(ln[0], [-1, 1, -1, 1]))
        #expect(ln[1].shape == [1, 2, 1])
        #expect(ln[1].floatScalars() == [2, 15])
        #expect(close(ln[2], [1, 0.2]))
        let lp = try run("LpNormalization", [try t([2], [3, 4])], opset: 17)[0]
        #expect(close(lp, [0.6, 0.8]))
    }

    @Test func badInputsAreEngineErrorsNamingTheNode() throws {
        let x = try iota([1, 2, 3, 3])
        func expectNodeError(_ op: String, _ inputs: [Tensor], _ attrs: [String: AttributeValue] = [:], mentions: String) {
            do {
                _ = try run(op, inputs, attributes: attrs)
                Issue.record("\(op) \(attrs) should have failed")
            } catch let e as EngineError {
                #expect("\(e)".contains("node 'n'"), "\(e)")
                #expect("\(e)".contains(mentions), "\(e)")
            } catch { Issue.record("unexpected error \(error)") }
        }
        expectNodeError("Conv", [x, try iota([1, 3, 2, 2])], mentions: "channels")
        expectNodeError("Conv", [x, try iota([1, 2, 2, 2])], ["pads": .ints([1, 1])], mentions: "pads")
        expectNodeError("Conv", [x, try iota([1, 2, 2])], mentions: "rank")
        expectNodeError("Conv", [x, try iota([1, 2, 2, 2])], ["auto_pad": .string("SAME")], mentions: "auto_pad")
        expectNodeError("Conv", [x, try iota([1, 2, 5, 5])], mentions: "kernel")
        expectNodeError("Conv", [x, try iota([1, 2, 2, 2]), try iota([3])], mentions: "B")
        expectNodeError("Gemm", [try iota([2, 3]), try iota([2, 3])], mentions: "K")
        expectNodeError("MatMul", [try iota([2, 2, 3]), try iota([3, 3, 2])], mentions: "batch")
        expectNodeError("MaxPool", [x], mentions: "kernel_shape")
        expectNodeError("MaxPool", [x], ["kernel_shape": .ints([2, 2]), "strides": .ints([0, 1])], mentions: "strides")
        expectNodeError("AveragePool", [try iota([4])], ["kernel_shape": .ints([2])], mentions: "rank")
        expectNodeError("BatchNormalization", [x, try iota([3]), try iota([2]), try iota([2]), try iota([2])], mentions: "scale")
        expectNodeError("LayerNormalization", [x, try iota([4])], mentions: "Scale")
        expectNodeError("ConvTranspose", [x, try iota([3, 1, 2, 2])], mentions: "channels")
    }

    @Test func threadedMatchesSerial() throws {
        var rng = SystemRandomNumberGenerator()
        let x = try t([2, 8, 9, 9], (0..<(2 * 8 * 81)).map { _ in Float.random(in: -1...1, using: &rng) })
        let w = try t([6, 4, 3, 3], (0..<(6 * 36)).map { _ in Float.random(in: -1...1, using: &rng) })
        let attrs: [String: AttributeValue] = ["group": .int(2), "pads": .ints([1, 1, 1, 1])]
        let a = try run("Conv", [x, w], attributes: attrs, threads: 1)[0].floatScalars()
        let b = try run("Conv", [x, w], attributes: attrs, threads: 2)[0].floatScalars()
        #expect(zip(a, b).allSatisfy { abs($0 - $1) <= 1e-5 })
    }
}
