import Foundation
import FrugalCore
@testable import FrugalEngine
import FrugalONNX
import Testing

/// Runs one node with every input fed at run time (so nothing is constant-folded).
func runNode(_ op: String, _ inputs: [Tensor?], attributes: [String: AttributeValue] = [:], outputs: Int = 1,
             opset: Int = 21) throws -> [Tensor] {
    var feeds: [String: Tensor] = [:]
    var names: [String] = []
    var infos: [ValueInfo] = []
    for (i, t) in inputs.enumerated() {
        guard let t else { names.append(""); continue }
        names.append("in\(i)")
        feeds["in\(i)"] = t
        infos.append(ValueInfo(name: "in\(i)", dtype: t.dtype, shape: nil))
    }
    let outs = (0..<outputs).map { "out\($0)" }
    let node = Node(name: "n0", opType: op, inputs: names, outputs: outs, attributes: attributes)
    let graph = Graph(nodes: [node], inputs: infos, outputs: outs.map { ValueInfo(name: $0, dtype: nil, shape: nil) },
                      opsetImports: ["": opset])
    return try Session(graph: graph, options: SessionOptions(threads: 1)).run(feeds)
}

func floats(_ shape: Shape, _ v: [Float]) throws -> Tensor { try Tensor(shape: shape, scalars: v) }
func int64s(_ v: [Int]) throws -> Tensor { try Tensor(shape: [v.count], scalars: v.map(Int64.init)) }
func iota(_ shape: Shape) throws -> Tensor { try floats(shape, (0..<shape.elementCount).map(Float.init)) }

/// Expects a node error (not a crash) whose message names the node.
func expectNodeError(_ op: String, _ inputs: [Tensor?], attributes: [String: AttributeValue] = [:], outputs: Int = 1,
                     sourceLocation: SourceLocation = #_sourceLocation) {
    do {
        _ = try runNode(op, inputs, attributes: attributes, outputs: outputs)
        Issue.record("\(op) accepted bad input", sourceLocation: sourceLocation)
    } catch {
        #expect("\(error)".contains("'n0'"), "\(error)", sourceLocation: sourceLocation)
    }
}

@Suite struct ShapeOperatorTests {
    @Test func reshapeFlattenSqueeze() throws {
        let x = try iota([2, 3, 4])
        #expect(try runNode("Reshape", [x, int64s([0, -1])])[0].shape == [2, 12])
        #expect(try runNode("Reshape", [try iota([0, 3]), int64s([3, 0])], attributes: ["allowzero": .int(1)])[0].shape == [3, 0])
        #expect(try runNode("Flatten", [x], attributes: ["axis": .int(-1)])[0].shape == [6, 4])
        #expect(try runNode("Squeeze", [try iota([1, 3, 1]), int64s([-1])])[0].shape == [1, 3])
        #expect(try runNode("Unsqueeze", [x, int64s([0, -1])])[0].shape == [1, 2, 3, 4, 1])
        #expect(try runNode("Unsqueeze", [x], attributes: ["axes": .ints([1])], opset: 11)[0].shape == [2, 1, 3, 4])
        #expect(try runNode("Shape", [x], attributes: ["start": .int(-2)])[0].scalars(as: Int64.self) == [3, 4])
        #expect(try runNode("Size", [x])[0].scalars(as: Int64.self) == [24])
        try expectNodeError("Reshape", [x, int64s([5, -1])])
        try expectNodeError("Reshape", [x, int64s([-1, -1])])
        try expectNodeError("Squeeze", [x, int64s([0])])
        expectNodeError("Flatten", [x], attributes: ["axis": .int(4)])
        try expectNodeError("Unsqueeze", [x, int64s([7])])
    }

    @Test func transposeMatchesNaiveForEveryElementSize() throws {
        for dtype in [DType.uint8, .float16, .float32, .int64] {
            for (shape, perm) in [([37, 53], [1, 0]), ([2, 5, 7, 33], [0, 2, 3, 1]), ([2, 7, 33, 5], [0, 3, 1, 2]), ([3, 4, 5], [2, 0, 1])] {
                let f = try iota(Shape(shape))
                let x = try CastOperators.cast(f, to: dtype)
                let y = try runNode("Transpose", [x], attributes: ["perm": .ints(perm)])[0]
                let outShape = Shape(perm.map { shape[$0] })
                #expect(y.shape == outShape)
                let inStrides = Shape(shape).strides
                let values = f.floatScalars()
                var expected = [Float](repeating: 0, count: values.count)
                for i in 0..<values.count {
                    var rem = i, src = 0
                    for (k, s) in outShape.strides.enumerated() { src += (rem / s) * inStrides[perm[k]]; rem %= s }
                    expected[i] = values[src]
                }
                #expect(try CastOperators.cast(y, to: .float32).floatScalars() == expected.map { dtype == .uint8 ? Float(UInt8(Int($0) % 256)) : dtype == .float16 ? Half($0).floatValue : $0 })
            }
        }
        expectNodeError("Transpose", [try iota([2, 3])], attributes: ["perm": .ints([0, 0])])
    }

    @Test func depthSpaceRoundTrip() throws {
        let x = try iota([1, 8, 2, 3])
        for mode in ["DCR", "CRD"] {
            let d = try runNode("DepthToSpace", [x], attributes: ["blocksize": .int(2), "mode": .string(mode)])[0]
            #expect(d.shape == [1, 2, 4, 6])
            if mode == "DCR" { #expect(try runNode("SpaceToDepth", [d], attributes: ["blocksize": .int(2)])[0] == x) }
        }
        expectNodeError("DepthToSpace", [try iota([1, 3, 2, 2])], attributes: ["blocksize": .int(2)])
    }

    @Test func concatSplitSlice() throws {
        let a = try iota([2, 2]), b = try floats([2, 1], [9, 9])
        #expect(try runNode("Concat", [a, b], attributes: ["axis": .int(-1)])[0].scalars(as: Float.self) == [0, 1, 9, 2, 3, 9])
        expectNodeError("Concat", [a, try iota([3, 1])], attributes: ["axis": .int(1)])
        let parts = try runNode("Split", [try iota([5])], attributes: ["num_outputs": .int(2)], outputs: 2, opset: 18)
        #expect(parts.map { $0.scalars(as: Float.self) } == [[0, 1, 2], [3, 4]])
        let sized = try runNode("Split", [try iota([4]), int64s([1, 3])], outputs: 2)
        #expect(sized[1].scalars(as: Float.self) == [1, 2, 3])
        try expectNodeError("Split", [try iota([4]), int64s([1, 2])], outputs: 2)
        let x = try iota([3, 4])
        let s = try runNode("Slice", [x, int64s([-1, Int(Int64.max)]), int64s([Int(Int64.min), 0]), int64s([0, 1]), int64s([-2, -3])])[0]
        #expect(s.shape == [2, 1])  // rows 2, 0; column 3 only (the end 0 is excluded)
        #expect(s.scalars(as: Float.self) == [11, 3])
        #expect(try runNode("Slice", [x, int64s([1]), int64s([100])])[0].shape == [2, 4])
        try expectNodeError("Slice", [x, int64s([0]), int64s([1]), int64s([0]), int64s([0])])
        try expectNodeError("Slice", [x, int64s([0]), int64s([1]), int64s([2])])
        let far = try runNode("Slice", [x, int64s([0, 3]), int64s([Int(Int64.max), Int(Int64.min)]), int64s([0, 1]),
                                        int64s([Int(Int64.max), Int(Int64.min)])])[0]
        #expect(far.scalars(as: Float.self) == [3])
    }

    @Test func gatherScatter() throws {
        let x = try iota([3, 2])
        let g = try runNode("Gather", [x, try Tensor(shape: [2], scalars: [Int32(-1), 0])])[0]
        #expect(g.scalars(as: Float.self) == [4, 5, 0, 1])
        try expectNodeError("Gather", [x, int64s([3])])
        let ge = try runNode("GatherElements", [x, try Tensor(shape: [3, 1], scalars: [Int64(1), 0, 1])], attributes: ["axis": .int(1)])[0]
        #expect(ge.scalars(as: Float.self) == [1, 2, 5])
        let gnd = try runNode("GatherND", [x, try Tensor(shape: [2, 2], scalars: [Int64(2), 1, 0, 0])])[0]
        #expect(gnd.scalars(as: Float.self) == [5, 0])
        let se = try runNode("ScatterElements", [x, try Tensor(shape: [1, 2], scalars: [Int64(2), 0]), floats([1, 2], [7, 8])],
                             attributes: ["reduction": .string("add")])[0]
        #expect(se.scalars(as: Float.self) == [0, 9, 2, 3, 11, 5])
        let snd = try runNode("ScatterND", [x, try Tensor(shape: [1, 1], scalars: [Int64(1)]), floats([1, 2], [-1, -2])])[0]
        #expect(snd.scalars(as: Float.self) == [0, 1, -1, -2, 4, 5])
        try expectNodeError("ScatterND", [x, try Tensor(shape: [1, 1], scalars: [Int64(5)]), floats([1, 2], [-1, -2])])
        expectNodeError("GatherND", [x, try Tensor(shape: [1, 3], scalars: [Int64(0), 0, 0])])
    }

    @Test func castBetweenAllTypes() throws {
        let f = try floats([5], [-2.7, -0.0, 0.5, 3.9, 300])
        #expect(try runNode("Cast", [f], attributes: ["to": .int(6)])[0].scalars(as: Int32.self) == [-2, 0, 0, 3, 300])
        #expect(try runNode("Cast", [f], attributes: ["to": .int(3)])[0].scalars(as: Int8.self) == [-2, 0, 0, 3, 44])
        #expect(try runNode("Cast", [f], attributes: ["to": .int(9)])[0].scalars(as: Bool.self) == [true, false, true, true, true])
        #expect(try runNode("Cast", [f], attributes: ["to": .int(10)])[0].floatScalars() == [-2.69921875, 0, 0.5, 3.900390625, 300])
        let i = try Tensor(shape: [2], scalars: [Int64(-1), 256])
        #expect(try runNode("CastLike", [i, try Tensor(shape: [0], scalars: [UInt8]())])[0].scalars(as: UInt8.self) == [255, 0])
        for from in DType.allCases {
            for to in DType.allCases {
                let x = try CastOperators.cast(try floats([3], [0, 1, 2]), to: from)
                let y = try CastOperators.cast(x, to: to)
                #expect(y.floatScalars() == (to == .bool || from == .bool ? [0, 1, 1] : [0, 1, 2]), "\(from) -> \(to)")
            }
        }
        expectNodeError("Cast", [f], attributes: ["to": .int(11)])
    }

    @Test func expandTilePadConstantOfShape() throws {
        let x = try floats([2, 1], [1, 2])
        #expect(try runNode("Expand", [x, int64s([2, 3])])[0].scalars(as: Float.self) == [1, 1, 1, 2, 2, 2])
        try expectNodeError("Expand", [x, int64s([3, 3])])
        #expect(try runNode("Tile", [x, int64s([2, 2])])[0].scalars(as: Float.self) == [1, 1, 2, 2, 1, 1, 2, 2])
        let row = try floats([1, 3], [1, 2, 3])
        func pad(_ mode: String, _ pads: [Int]) throws -> [Float] {
            try runNode("Pad", [row, int64s(pads)], attributes: ["mode": .string(mode)])[0].scalars(as: Float.self)
        }
        #expect(try pad("reflect", [0, 2, 0, 2]) == [3, 2, 1, 2, 3, 2, 1])
        #expect(try pad("edge", [0, 1, 0, 1]) == [1, 1, 2, 3, 3])
        #expect(try pad("wrap", [0, 1, 0, 1]) == [3, 1, 2, 3, 1])
        #expect(try pad("constant", [0, -1, 0, 1]) == [2, 3, 0])
        let c = try runNode("Pad", [row, int64s([1, 1]), floats([], [7]), int64s([0])])[0]
        #expect(c.scalars(as: Float.self) == [7, 7, 7, 1, 2, 3, 7, 7, 7])
        try expectNodeError("Pad", [row, int64s([0, 1])])
        try expectNodeError("Pad", [row, int64s([0, -5, 0, 0])])
        let k = try runNode("ConstantOfShape", [int64s([2, 2])], attributes: ["value": .tensor(try Tensor(shape: [1], scalars: [Int32(5)]))])[0]
        #expect(k.scalars(as: Int32.self) == [5, 5, 5, 5])
        try expectNodeError("ConstantOfShape", [int64s([Int(Int64.max), Int(Int64.max)])])
        try expectNodeError("Tile", [x, int64s([Int(Int64.max), 2])])
    }

    @Test func resizeNearestAndLinear() throws {
        let x = try floats([1, 1, 2, 2], [1, 2, 3, 4])
        let scales = try floats([4], [1, 1, 2, 2])
        let n = try runNode("Resize", [x, nil, scales])[0]
        #expect(n.shape == [1, 1, 4, 4])
        #expect(n.scalars(as: Float.self) == [1, 1, 2, 2, 1, 1, 2, 2, 3, 3, 4, 4, 3, 3, 4, 4])
        let l = try runNode("Resize", [x, nil, nil, int64s([1, 1, 3, 3])],
                            attributes: ["mode": .string("linear"), "coordinate_transformation_mode": .string("align_corners")])[0]
        #expect(l.scalars(as: Float.self) == [1, 1.5, 2, 2, 2.5, 3, 3, 3.5, 4])
        let u = try runNode("Resize", [try Tensor(shape: [1, 2], scalars: [UInt8(10), 20]), nil, floats([2], [1, 2])])[0]
        #expect(u.scalars(as: UInt8.self) == [10, 10, 20, 20])
        try expectNodeError("Resize", [x, nil, floats([4], [1, 1, 0, 2])])
        try expectNodeError("Resize", [x, nil, floats([2], [2, 2])])
        expectNodeError("Resize", [x])
        expectNodeError("Resize", [x, nil, scales], attributes: ["mode": .string("bicubic")])
    }

    @Test func generatorsAndMasks() throws {
        #expect(try runNode("Range", [Tensor(scalar: Int64(10)), Tensor(scalar: Int64(1)), Tensor(scalar: Int64(-3))])[0]
            .scalars(as: Int64.self) == [10, 7, 4])
        expectNodeError("Range", [Tensor(scalar: Float(0)), Tensor(scalar: Float(1)), Tensor(scalar: Float(0))])
        #expect(try runNode("EyeLike", [try iota([2, 3])], attributes: ["k": .int(1), "dtype": .int(7)])[0]
            .scalars(as: Int64.self) == [0, 1, 0, 0, 0, 1])
        #expect(try runNode("Trilu", [try iota([3, 3]), Tensor(scalar: Int64(0))], attributes: ["upper": .int(0)])[0]
            .scalars(as: Float.self) == [0, 0, 0, 3, 4, 0, 6, 7, 8])
        #expect(try runNode("Trilu", [try iota([2, 2]), Tensor(scalar: Int64.max)])[0].scalars(as: Float.self) == [0, 0, 0, 0])
        #expect(try runNode("EyeLike", [try iota([2, 2])], attributes: ["k": .int(Int.min)])[0].scalars(as: Float.self) == [0, 0, 0, 0])
        expectNodeError("Range", [Tensor(scalar: Int64.min), Tensor(scalar: Int64.max), Tensor(scalar: Int64(1))])
        let oh = try runNode("OneHot", [int64s([1, -1, 5]), Tensor(scalar: Int64(3)), floats([2], [0, 1])])[0]
        #expect(oh.scalars(as: Float.self) == [0, 1, 0, 0, 0, 1, 0, 0, 0])
    }

    @Test func comparisonsLogicWhere() throws {
        let a = try floats([2, 2], [1, .nan, 3, 4]), b = try floats([2], [1, 3])
        #expect(try runNode("Equal", [a, b])[0].scalars(as: Bool.self) == [true, false, false, false])
        #expect(try runNode("GreaterOrEqual", [a, b])[0].scalars(as: Bool.self) == [true, false, true, true])
        let i = try Tensor(shape: [2], scalars: [Int64.max, Int64.max - 1])
        #expect(try runNode("Less", [i, try Tensor(shape: [1], scalars: [Int64.max])])[0].scalars(as: Bool.self) == [false, true])
        let t = try Tensor(shape: [2], scalars: [true, false])
        #expect(try runNode("Xor", [t, try Tensor(shape: [2, 1], scalars: [true, false])])[0].scalars(as: Bool.self) == [false, true, true, false])
        #expect(try runNode("IsNaN", [a])[0].scalars(as: Bool.self) == [false, true, false, false])
        let w = try runNode("Where", [t, try Tensor(shape: [2, 1], scalars: [Int8(1), 2]), Tensor(scalar: Int8(-1))])[0]
        #expect(w.shape == [2, 2])
        #expect(w.scalars(as: Int8.self) == [1, -1, 2, -1])
        expectNodeError("Equal", [a, try floats([3], [1, 2, 3])])
        expectNodeError("Where", [a, a, a])
        expectNodeError("Not", [a])
        expectNodeError("And", [a, a])
        expectNodeError("Where", [t, a, try int64s([1])])
    }
}
