import Foundation
import FrugalCore
import FrugalEngine
import Testing

/// Known values and bad input for the math, activation, reduction and softmax operators.
/// Helpers live in an enum so they cannot clash with other test files' free functions.
enum MathHarness {
    /// Runs one node with every input fed at run time (so nothing is constant-folded).
    static func run(_ op: String, _ inputs: [Tensor?], _ attributes: [String: AttributeValue] = [:],
                    opset: Int = 21, outputs: Int = 1) throws -> [Tensor] {
        var feeds: [String: Tensor] = [:]
        var names: [String] = []
        var infos: [ValueInfo] = []
        for (i, t) in inputs.enumerated() {
            guard let t else { names.append(""); continue }
            names.append("x\(i)")
            feeds["x\(i)"] = t
            infos.append(ValueInfo(name: "x\(i)", dtype: t.dtype, shape: nil))
        }
        let outs = (0..<outputs).map { "y\($0)" }
        let node = Node(name: "mathnode", opType: op, inputs: names, outputs: outs, attributes: attributes)
        let graph = Graph(nodes: [node], inputs: infos, outputs: outs.map { ValueInfo(name: $0, dtype: nil, shape: nil) },
                          opsetImports: ["": opset])
        return try Session(graph: graph, options: SessionOptions(threads: 1)).run(feeds)
    }

    static func one(_ op: String, _ inputs: [Tensor?], _ attributes: [String: AttributeValue] = [:], opset: Int = 21) throws -> Tensor {
        try run(op, inputs, attributes, opset: opset)[0]
    }

    static func f(_ shape: Shape, _ v: [Float]) throws -> Tensor { try Tensor(shape: shape, scalars: v) }
    static func f(_ v: [Float]) throws -> Tensor { try Tensor(shape: [v.count], scalars: v) }
    static func i64(_ v: [Int64], _ shape: Shape? = nil) throws -> Tensor { try Tensor(shape: shape ?? [v.count], scalars: v) }
    static func i32(_ v: [Int32]) throws -> Tensor { try Tensor(shape: [v.count], scalars: v) }

    static func close(_ a: [Float], _ b: [Float], tol: Float = 1e-5) -> Bool {
        a.count == b.count && zip(a, b).allSatisfy { $0.isNaN && $1.isNaN || abs($0 - $1) <= tol * (1 + abs($1)) }
    }

    /// Expects an error naming the node, not a crash.
    static func expectNodeError(_ op: String, _ inputs: [Tensor?], _ attributes: [String: AttributeValue] = [:],
                                opset: Int = 21, outputs: Int = 1, sourceLocation: SourceLocation = #_sourceLocation) {
        do {
            _ = try run(op, inputs, attributes, opset: opset, outputs: outputs)
            Issue.record("\(op) accepted bad input", sourceLocation: sourceLocation)
        } catch {
            #expect(error is EngineError, "\(error)", sourceLocation: sourceLocation)
            #expect("\(error)".contains("mathnode"), "\(error)", sourceLocation: sourceLocation)
        }
    }
}

@Suite struct MathOperatorTests {
    typealias H = MathHarness

    @Test func binaryArithmeticBroadcastsAcrossTypes() throws {
        let a = try H.f([2, 3], [1, 2, 3, 4, 5, 6])
        #expect(try H.one("Add", [a, try H.f([10, 20, 30])]).scalars(as: Float.self) == [11, 22, 33, 14, 25, 36])
        #expect(try H.one("Sub", [a, try H.f([2, 1], [1, 2])]).scalars(as: Float.self) == [0, 1, 2, 2, 3, 4])
        #expect(try H.one("Mul", [a, Tensor(scalar: Float(2))]).shape == [2, 3])
        let i8 = try Tensor(shape: [2], scalars: [100, -7] as [Int8])
        #expect(try H.one("Add", [i8, i8]).scalars(as: Int8.self) == [-56, -14])  // wraps like numpy
        #expect(try H.one("Div", [try H.i32([-7, 7]), try H.i32([2, 2])]).scalars(as: Int32.self) == [-3, 3])  // truncates
        let u8 = try Tensor(shape: [2], scalars: [200, 9] as [UInt8])
        #expect(try H.one("Div", [u8, try Tensor(shape: [1], scalars: [4] as [UInt8])]).scalars(as: UInt8.self) == [50, 2])
        let h = try Tensor(shape: [2], scalars: [Half(1.5), Half(-2)])
        let hs = try H.one("Add", [h, h])
        #expect(hs.dtype == .float16 && hs.floatScalars() == [3, -4])
    }

    @Test func powKeepsTheBaseType() throws {
        #expect(try H.one("Pow", [try H.f([2, 3]), try H.i32([3, 2])]).scalars(as: Float.self) == [8, 9])
        #expect(try H.one("Pow", [try H.i64([2, 3]), try H.f([0.5, 2])]).scalars(as: Int64.self) == [1, 9])
        #expect(try H.one("Pow", [try H.i64([2, -2]), try H.i64([10, 3])]).scalars(as: Int64.self) == [1024, -8])
        #expect(H.close(try H.one("Pow", [try H.f([4, 2]), try H.f([0.5, -1])]).scalars(as: Float.self), [2, 0.5]))
    }

    @Test func variadicAndModAndPRelu() throws {
        let a = try H.f([1, 5, 3]), b = try H.f([4, 2, 6]), c = try H.f([3])
        #expect(try H.one("Max", [a, b, c]).scalars(as: Float.self) == [4, 5, 6])
        #expect(try H.one("Min", [a, b, c]).scalars(as: Float.self) == [1, 2, 3])
        #expect(try H.one("Sum", [a, b, c]).scalars(as: Float.self) == [8, 10, 12])
        #expect(try H.one("Mean", [a, b]).scalars(as: Float.self) == [2.5, 3.5, 4.5])
        #expect(try H.one("Max", [a]).scalars(as: Float.self) == [1, 5, 3])
        #expect(try H.one("Max", [try H.i64([1, -5]), try H.i64([0, 0])]).scalars(as: Int64.self) == [1, 0])
        let x = try H.i64([-7, 7, -7, 7]), y = try H.i64([3, -3, -3, 3])
        #expect(try H.one("Mod", [x, y]).scalars(as: Int64.self) == [2, -2, -1, 1])  // sign of the divisor
        #expect(try H.one("Mod", [x, y], ["fmod": .int(1)]).scalars(as: Int64.self) == [-1, 1, -1, 1])  // of the dividend
        #expect(try H.one("Mod", [try H.i64([5]), try H.i64([0])]).scalars(as: Int64.self) == [0])
        #expect(try H.one("Mod", [try H.f([-7.5, 7.5]), try H.f([2, 2])], ["fmod": .int(1)]).scalars(as: Float.self) == [-1.5, 1.5])
        let p = try H.one("PRelu", [try H.f([2, 2], [-1, 2, -3, 4]), try H.f([0.5, 0.25])])
        #expect(p.scalars(as: Float.self) == [-0.5, 2, -1.5, 4])
    }

    @Test func binaryBadInput() throws {
        H.expectNodeError("Add", [try H.f([2, 3], [1, 2, 3, 4, 5, 6]), try H.f([1, 2, 3, 4])])
        H.expectNodeError("Mul", [try H.f([1]), try H.i32([1])])
        H.expectNodeError("Mod", [try H.i64([1]), try H.i64([1])], ["fmod": .int(2)])
        H.expectNodeError("PRelu", [try H.f([2, 1], [1, 2]), try H.f([2, 3], [1, 2, 3, 4, 5, 6])])
        H.expectNodeError("Pow", [try Tensor(shape: [1], scalars: [true]), try H.f([1])])
    }

    @Test func unaryMath() throws {
        let r = try H.one("Round", [try H.f([0.5, 1.5, 2.5, -0.5, -1.5, 2.6])]).scalars(as: Float.self)
        #expect(r == [0, 2, 2, 0, -2, 3])
        #expect(try H.one("Floor", [try H.f([-1.5, 1.5])]).scalars(as: Float.self) == [-2, 1])
        #expect(try H.one("Ceil", [try H.f([-1.5, 1.5])]).scalars(as: Float.self) == [-1, 2])
        let s = try H.one("Sign", [try H.f([-3, 0, 2, .nan])]).scalars(as: Float.self)
        #expect(s[0..<3] == [-1, 0, 1] && s[3].isNaN)
        #expect(try H.one("Sign", [try H.i64([-3, 0, 9])]).scalars(as: Int64.self) == [-1, 0, 1])
        #expect(try H.one("Abs", [try H.i32([-3, .min])]).scalars(as: Int32.self) == [3, .min])
        #expect(try H.one("Neg", [try Tensor(shape: [2], scalars: [5, -128] as [Int8])]).scalars(as: Int8.self) == [-5, -128])
        let x = try H.f([0.5, -0.25])
        for (op, fn) in [("Sin", sin), ("Cos", cos), ("Tan", tan), ("Asin", asin), ("Acos", acos), ("Atan", atan),
                         ("Sinh", sinh), ("Cosh", cosh), ("Asinh", asinh), ("Atanh", atanh), ("Exp", exp),
                         ("Erf", erf)] as [(String, (Double) -> Double)] {
            #expect(H.close(try H.one(op, [x]).scalars(as: Float.self), [0.5, -0.25].map { Float(fn($0)) }), "\(op)")
        }
        #expect(H.close(try H.one("Acosh", [try H.f([1, 2])]).scalars(as: Float.self), [0, Float(acosh(2.0))]))
        #expect(try H.one("Sqrt", [try H.f([4, 9])]).scalars(as: Float.self) == [2, 3])
        #expect(try H.one("Reciprocal", [try H.f([4, -0.5])]).scalars(as: Float.self) == [0.25, -2])
        H.expectNodeError("Sqrt", [try H.i32([4])])
        H.expectNodeError("Neg", [try Tensor(shape: [1], scalars: [UInt8(1)])])
    }

    @Test func activations() throws {
        let x = try H.f([-2, -0.5, 0, 0.5, 2])
        #expect(try H.one("Relu", [x]).scalars(as: Float.self) == [0, 0, 0, 0.5, 2])
        #expect(try H.one("Relu", [try H.i32([-2, 3])]).scalars(as: Int32.self) == [0, 3])
        #expect(try H.one("LeakyRelu", [x], ["alpha": .float(0.1)]).scalars(as: Float.self) == [-0.2, -0.05, 0, 0.5, 2])
        #expect(try H.one("ThresholdedRelu", [x], ["alpha": .float(0.5)]).scalars(as: Float.self) == [0, 0, 0, 0, 2])
        #expect(try H.one("Shrink", [x], ["lambd": .float(1), "bias": .float(0.5)]).scalars(as: Float.self) == [-1.5, 0, 0, 0, 1.5])
        #expect(try H.one("Softsign", [x]).scalars(as: Float.self) == [-2.0 / 3, -0.5 / 1.5, 0, 0.5 / 1.5, 2.0 / 3])
        #expect(H.close(try H.one("HardSigmoid", [x]).scalars(as: Float.self), [0.1, 0.4, 0.5, 0.6, 0.9]))
        let d = [-2, -0.5, 0, 0.5, 2] as [Double]
        func expect(_ op: String, _ attrs: [String: AttributeValue], _ fn: (Double) -> Double) throws {
            #expect(H.close(try H.one(op, [x], attrs).scalars(as: Float.self), d.map { Float(fn($0)) }), "\(op)")
        }
        let sa = 1.67326319217681884765625, sg = 1.05070102214813232421875
        try expect("Selu", [:]) { $0 > 0 ? sg * $0 : sg * sa * (exp($0) - 1) }
        try expect("Elu", ["alpha": .float(2)]) { $0 > 0 ? $0 : 2 * (exp($0) - 1) }
        try expect("Celu", ["alpha": .float(2)]) { max(0, $0) + min(0, 2 * (exp($0 / 2) - 1)) }
        try expect("Gelu", [:]) { 0.5 * $0 * (1 + erf($0 / 2.0.squareRoot())) }
        try expect("Gelu", ["approximate": .string("tanh")]) { 0.5 * $0 * (1 + tanh((2 / Double.pi).squareRoot() * ($0 + 0.044715 * $0 * $0 * $0))) }
        try expect("Mish", [:]) { $0 * tanh(log(1 + exp($0))) }
        try expect("Swish", ["alpha": .float(2)]) { $0 / (1 + exp(-2 * $0)) }
        try expect("Softplus", [:]) { log(1 + exp($0)) }
        try expect("Sigmoid", [:]) { 1 / (1 + exp(-$0)) }
        try expect("Tanh", [:]) { tanh($0) }
        try expect("HardSwish", [:]) { $0 * max(0, min(1, $0 / 6 + 0.5)) }
        H.expectNodeError("Gelu", [x], ["approximate": .string("cubic")])
        H.expectNodeError("Celu", [x], ["alpha": .float(0)])
    }

    @Test func clipAllVersions() throws {
        let x = try H.f([-3, -1, 0, 1, 3])
        #expect(try H.one("Clip", [x, Tensor(scalar: Float(-1)), Tensor(scalar: Float(2))]).scalars(as: Float.self) == [-1, -1, 0, 1, 2])
        #expect(try H.one("Clip", [x, nil, Tensor(scalar: Float(0))]).scalars(as: Float.self) == [-3, -1, 0, 0, 0])
        #expect(try H.one("Clip", [x, Tensor(scalar: Float(2)), Tensor(scalar: Float(1))]).scalars(as: Float.self) == [1, 1, 1, 1, 1])
        #expect(try H.one("Clip", [x], ["min": .float(-2), "max": .float(0.5)], opset: 6).scalars(as: Float.self) == [-2, -1, 0, 0.5, 0.5])
        #expect(try H.one("Clip", [x], opset: 6).scalars(as: Float.self) == [-3, -1, 0, 1, 3])
        let i8 = try Tensor(shape: [3], scalars: [-100, 5, 100] as [Int8])
        #expect(try H.one("Clip", [i8, nil, Tensor(scalar: Int8(10))]).scalars(as: Int8.self) == [-100, 5, 10])
        H.expectNodeError("Clip", [x, try H.f([0, 1])])
        H.expectNodeError("Clip", [x, Tensor(scalar: Int64(0))])
    }

    @Test func reductionsFollowTheirOpset() throws {
        let x = try H.f([2, 3], [1, 2, 3, 4, 5, 6])
        #expect(try H.one("ReduceSum", [x, try H.i64([1])]).scalars(as: Float.self) == [6, 15])
        #expect(try H.one("ReduceSum", [x, try H.i64([-2])], ["keepdims": .int(0)]).shape == [3])
        #expect(try H.one("ReduceSum", [x], ["axes": .ints([1]), "keepdims": .int(0)], opset: 11).scalars(as: Float.self) == [6, 15])
        #expect(try H.one("ReduceSum", [x, try H.i64([])], ["noop_with_empty_axes": .int(1)]) == x)
        #expect(try H.one("ReduceSum", [x]).shape == [1, 1])
        #expect(try H.one("ReduceMean", [x], ["axes": .ints([0])], opset: 13).scalars(as: Float.self) == [2.5, 3.5, 4.5])
        #expect(try H.one("ReduceMean", [x, try H.i64([0])], opset: 18).scalars(as: Float.self) == [2.5, 3.5, 4.5])
        #expect(try H.one("ReduceProd", [x, try H.i64([1])]).scalars(as: Float.self) == [6, 120])
        #expect(try H.one("ReduceL1", [try H.f([-3, 4])]).scalars(as: Float.self) == [7])
        #expect(try H.one("ReduceL2", [try H.f([-3, 4])]).scalars(as: Float.self) == [5])
        #expect(try H.one("ReduceSumSquare", [try H.f([-3, 4])]).scalars(as: Float.self) == [25])
        #expect(H.close(try H.one("ReduceLogSum", [try H.f([1, 2])]).scalars(as: Float.self), [log(3)]))
        // Stable: a naive exp overflows.
        let lse = try H.one("ReduceLogSumExp", [try H.f([2, 2], [1000, 1000, -1000, -.infinity]), try H.i64([1])], ["keepdims": .int(0)])
        #expect(lse.shape == [2] && H.close(lse.scalars(as: Float.self), [1000 + log(2), -1000]))
        #expect(try H.one("ReduceLogSumExp", [try H.f([-.infinity, -.infinity])]).scalars(as: Float.self) == [-.infinity])
        // Integers are exact, bools work for max / min.
        let big = try H.i64([1 << 40, 1, 3])
        #expect(try H.one("ReduceSum", [big]).scalars(as: Int64.self) == [(1 << 40) + 4])
        #expect(try H.one("ReduceMax", [big, try H.i64([0])], ["keepdims": .int(0)]).scalars(as: Int64.self) == [1 << 40])
        let b = try Tensor(shape: [2, 2], scalars: [true, false, false, false])
        #expect(try H.one("ReduceMax", [b, try H.i64([1])], opset: 20).scalars(as: Bool.self) == [true, false])
        #expect(try H.one("ReduceMin", [b, try H.i64([0])], opset: 20).scalars(as: Bool.self) == [false, false])
        H.expectNodeError("ReduceSum", [x, try H.i64([2])])
        H.expectNodeError("ReduceSum", [x, try H.i64([1, -1])])
        H.expectNodeError("ReduceMean", [x], ["axes": .ints([5])], opset: 13)
        H.expectNodeError("ReduceSum", [x, try H.f([1])])
    }

    @Test func argTopKCumSum() throws {
        let x = try H.f([2, 3], [1, 3, 3, 7, 0, 7])
        #expect(try H.one("ArgMax", [x], ["axis": .int(1)]).scalars(as: Int64.self) == [1, 0])
        #expect(try H.one("ArgMax", [x], ["axis": .int(1), "select_last_index": .int(1), "keepdims": .int(0)]).scalars(as: Int64.self) == [2, 2])
        #expect(try H.one("ArgMin", [x], ["axis": .int(-1)]).shape == [2, 1])
        let tk = try H.run("TopK", [x, try H.i64([2])], outputs: 2)
        #expect(tk[0].scalars(as: Float.self) == [3, 3, 7, 7] && tk[1].scalars(as: Int64.self) == [1, 2, 0, 2])
        let small = try H.run("TopK", [x, try H.i64([1])], ["largest": .int(0), "axis": .int(0)], outputs: 2)
        #expect(small[0].scalars(as: Float.self) == [1, 0, 3] && small[1].scalars(as: Int64.self) == [0, 1, 0])
        let v1 = try H.run("TopK", [x], ["k": .int(1)], opset: 1, outputs: 2)
        #expect(v1[1].scalars(as: Int64.self) == [1, 0])
        let ti = try H.run("TopK", [try H.i64([5, 9, 5, 9]), try H.i64([3])], outputs: 2)
        #expect(ti[0].scalars(as: Int64.self) == [9, 9, 5] && ti[1].scalars(as: Int64.self) == [1, 3, 0])
        let c = try H.f([1, 2, 3])
        #expect(try H.one("CumSum", [c, try H.i64([0])]).scalars(as: Float.self) == [1, 3, 6])
        #expect(try H.one("CumSum", [c, try H.i32([0])], ["exclusive": .int(1), "reverse": .int(1)]).scalars(as: Float.self) == [5, 3, 0])
        #expect(try H.one("CumSum", [try H.f([2, 2], [1, 2, 3, 4]), try H.i64([-2])]).scalars(as: Float.self) == [1, 2, 4, 6])
        #expect(try H.one("CumSum", [try H.i32([1, 2, 3]), try H.i64([0])], ["exclusive": .int(1)]).scalars(as: Int32.self) == [0, 1, 3])
        H.expectNodeError("TopK", [x, try H.i64([4])], outputs: 2)
        H.expectNodeError("TopK", [x, try H.i64([1, 1])], outputs: 2)
        H.expectNodeError("ArgMax", [x], ["axis": .int(2)])
        H.expectNodeError("ArgMax", [try H.f([2, 0], [])], ["axis": .int(1)])
        H.expectNodeError("CumSum", [c, try H.i64([0, 0])])
        H.expectNodeError("CumSum", [c, try H.i64([1])])
    }

    @Test func softmaxFamilyAxisSemanticsByOpset() throws {
        let x = try H.f([2, 2, 2], [0, 1, 2, 3, 4, 5, 6, 7])
        // Opset 13: along axis 1 only, so pairs (0, 2), (1, 3), ... each sum to 1.
        let s13 = try H.one("Softmax", [x], ["axis": .int(1)], opset: 13).scalars(as: Float.self)
        let e2 = Float(1 / (1 + exp(2.0)))
        #expect(H.close(s13, [e2, e2, 1 - e2, 1 - e2, e2, e2, 1 - e2, 1 - e2]))
        // Opset 11: flattened to [2, 4] at axis 1, each row of 4 sums to 1.
        let s11 = try H.one("Softmax", [x], ["axis": .int(1)], opset: 11).scalars(as: Float.self)
        #expect(abs(s11[0..<4].reduce(0, +) - 1) < 1e-6 && s11[3] > s11[2] && s11[2] > s11[1])
        let d11 = try H.one("Softmax", [x], opset: 11).scalars(as: Float.self)
        #expect(d11 == s11)  // default axis 1 before 13
        let big = try H.one("LogSoftmax", [try H.f([1000, 1000])]).scalars(as: Float.self)
        #expect(H.close(big, [-log(2), -log(2)]))
        let hm13 = try H.one("Hardmax", [try H.f([2, 3], [1, 3, 3, 0, -1, 2])]).scalars(as: Float.self)
        #expect(hm13 == [0, 1, 0, 0, 0, 1])
        let hm11 = try H.one("Hardmax", [x], ["axis": .int(0)], opset: 11).scalars(as: Float.self)
        #expect(hm11 == [0, 0, 0, 0, 0, 0, 0, 1])
        let h = try Tensor(shape: [2], scalars: [Half(0), Half(0)])
        #expect(try H.one("Softmax", [h]).floatScalars() == [0.5, 0.5])
        H.expectNodeError("Softmax", [x], ["axis": .int(3)], opset: 13)
        H.expectNodeError("LogSoftmax", [x], ["axis": .int(4)], opset: 11)
        H.expectNodeError("Hardmax", [try H.i32([1])])
    }
}
