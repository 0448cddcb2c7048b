import Foundation
import FrugalCore
@testable import FrugalEngine
import Testing

/// HardSwish spelt out in several nodes and per-channel constant Adds after a Conv
/// (DecomposedFusions.swift) are fused, and the fused graph computes what the plain one does;
/// look-alikes (other constants, a shared intermediate, a constant that broadcasts along
/// width) are left alone.
@Suite struct DecomposedFusionTests {
    func weights(_ dims: [Int], _ seed: UInt64, scale: Float = 1) throws -> Tensor {
        var rng = SeededRandom(seed: seed)
        return try Tensor(shape: Shape(dims), scalars: (0..<dims.reduce(1, *)).map { _ in (rng.uniform() - 0.5) * scale })
    }

    enum Spelling: CaseIterable { case divSix, mulSixth, hardSigmoid, sigmoidFirst, clipOverSix, attributeClip }

    /// x -> Conv -> HardSwish written as `spelling` -> Relu (so the output is not the pattern's).
    func hardSwishGraph(_ spelling: Spelling, three: Float = 3, alpha: Float = 1 / 6, extraReader: Bool = false) throws -> Graph {
        var b = GraphBuilder(name: "hswish", opset: spelling == .attributeClip ? 10 : 17)
        let x = b.input("x", dtype: .float32, shape: [.symbolic("N"), .fixed(3), .fixed(7), .fixed(6)])
        let w = b.initializer("w", try weights([8, 3, 3, 3], 1, scale: 8))
        let bias = b.initializer("b", try weights([8], 2, scale: 4))
        let y = b.node("Conv", [x, w, bias], attributes: ["pads": .ints([1, 1, 1, 1])])
        let c3 = b.initializer("three", try Tensor(shape: [], scalars: [three]))
        let c0 = b.initializer("zero", try Tensor(shape: [], scalars: [Float(0)]))
        let c6 = b.initializer("six", try Tensor(shape: [], scalars: [Float(6)]))
        let cSixth = b.initializer("sixth", try Tensor(shape: [1], scalars: [Float(1) / 6]))
        func relu6(_ v: String) -> String {
            let shifted = b.node("Add", [v, c3])
            if spelling == .attributeClip {
                return b.node("Clip", [shifted], attributes: ["min": .float(0), "max": .float(6)])
            }
            return b.node("Clip", [shifted, c0, c6])
        }
        let out: String
        switch spelling {
        case .divSix, .attributeClip: out = b.node("Div", [b.node("Mul", [y, relu6(y)]), c6])
        case .mulSixth: out = b.node("Mul", [cSixth, b.node("Mul", [relu6(y), y])])
        case .hardSigmoid:
            out = b.node("Mul", [y, b.node("HardSigmoid", [y], attributes: ["alpha": .float(alpha), "beta": .float(0.5)])])
        case .sigmoidFirst:
            out = b.node("Mul", [b.node("HardSigmoid", [y], attributes: ["alpha": .float(alpha), "beta": .float(0.5)]), y])
        case .clipOverSix: out = b.node("Mul", [y, b.node("Div", [relu6(y), c6])])
        }
        b.output(b.node("Relu", [out]), dtype: .float32, shape: nil)
        if extraReader { b.output(b.node("Neg", [y]), dtype: .float32, shape: nil) }
        return b.graph
    }

    func optimized(_ g: Graph) throws -> Graph {
        try Planner.optimize(g, context: ExecutionContext(pool: ThreadPool(threadCount: 1), opset: g.opset))
    }

    func agree(_ g: Graph, _ x: Tensor) throws {
        for threads in [1, 2] {
            let fused = try Session(graph: g, options: SessionOptions(threads: threads))
            let plain = try Session(graph: g, options: SessionOptions(threads: threads, optimize: false))
            let a = try fused.run(["x": x]), b = try plain.run(["x": x])
            for (p, q) in zip(a, b) {
                #expect(p.shape == q.shape)
                #expect(maxRelativeError(p, q) < 1e-5, "\(g.name), \(threads) threads")
            }
        }
    }

    @Test func spelledOutHardSwishFusesIntoTheConv() throws {
        let x = try weights([2, 3, 7, 6], 5, scale: 4)
        for spelling in Spelling.allCases {
            let g = try hardSwishGraph(spelling)
            let opt = try optimized(g)
            #expect(opt.nodes.map(\.opType) == ["Conv", "Relu"] || opt.nodes.map(\.opType) == ["Conv"], "\(spelling): \(opt.nodes.map(\.opType))")
            let conv = try #require(opt.nodes.first { $0.opType == "Conv" })
            #expect(try FusedActivation(fusedIn: conv) == .hardSwish, "\(spelling)")
            try agree(g, x)
        }
    }

    @Test func lookAlikesAreLeftAlone() throws {
        // Add 2 instead of 3; Paddle's HardSigmoid slope 0.2; the Conv output read elsewhere too.
        for g in [try hardSwishGraph(.divSix, three: 2), try hardSwishGraph(.hardSigmoid, alpha: 0.2),
                  try hardSwishGraph(.divSix, extraReader: true)] {
            let opt = try optimized(g)
            let conv = try #require(opt.nodes.first { $0.opType == "Conv" })
            #expect(try FusedActivation(fusedIn: conv) != .hardSwish)
            #expect(opt.nodes.contains { $0.opType == "Mul" })
            try agree(g, try weights([1, 3, 7, 6], 6, scale: 4))
        }
    }

    /// Conv -> Add(constant of shape `shape`): folded into the bias when per channel.
    func addGraph(_ shape: [Int], bias: Bool) throws -> Graph {
        var b = GraphBuilder(name: "addfold", opset: 17)
        let x = b.input("x", dtype: .float32, shape: [.fixed(2), .fixed(4), .fixed(5), .fixed(6)])
        let w = b.initializer("w", try weights([6, 4, 1, 1], 1))
        let k = b.initializer("k", try weights(shape, 3))
        let y = b.node("Conv", bias ? [x, w, b.initializer("b", try weights([6], 2))] : [x, w])
        b.output(b.node("Relu", [b.node("Add", [k, y])]), dtype: .float32, shape: nil)
        return b.graph
    }

    @Test func perChannelConstantAddsJoinTheBias() throws {
        let x = try weights([2, 4, 5, 6], 7)
        for (shape, folds) in [([6, 1, 1], true), ([1, 6, 1, 1], true), ([1], true), ([], true),
                               ([1, 1, 1, 6], false), ([6], false), ([1, 1, 5, 6], false), ([2, 6, 1, 1], false)] {
            for bias in [false, true] {
                let g = try addGraph(shape, bias: bias)
                let opt = try optimized(g)
                #expect(opt.nodes.contains { $0.opType == "Add" } != folds, "\(shape) bias \(bias)")
                if folds { #expect(opt.nodes.map(\.opType) == ["Conv"], "\(shape): the Relu fuses after the fold") }
                try agree(g, x)
            }
        }
    }
}
