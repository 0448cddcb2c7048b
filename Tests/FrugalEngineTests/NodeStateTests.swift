import Foundation
import FrugalCore
@testable import FrugalEngine
import Testing

/// What a node keeps between runs (Conv's parsed attributes and descriptor, packed weights)
/// is re-derived when the input shape changes: a session fed shapes A, B, A in turn gives
/// what a fresh session gives for each, and outputs of the shape the ONNX formula gives.
@Suite struct NodeStateTests {
    func values(_ dims: [Int], _ seed: UInt64) throws -> Tensor {
        var rng = SeededRandom(seed: seed)
        return try Tensor(shape: Shape(dims), scalars: (0..<dims.reduce(1, *)).map { _ in rng.uniform() - 0.5 })
    }

    /// x [N, 4, H, W] -> Conv 3x3 stride 2 pad 1 -> Relu (fused) -> Conv 1x1.
    func graph() throws -> Graph {
        var b = GraphBuilder(name: "shapes", opset: 17)
        let x = b.input("x", dtype: .float32, shape: [.symbolic("N"), .fixed(4), .symbolic("H"), .symbolic("W")])
        let w1 = b.initializer("w1", try values([6, 4, 3, 3], 1))
        let w2 = b.initializer("w2", try values([5, 6, 1, 1], 2))
        let h = b.node("Relu", [b.node("Conv", [x, w1], attributes: ["pads": .ints([1, 1, 1, 1]), "strides": .ints([2, 2])])])
        b.output(b.node("Conv", [h, w2]), dtype: .float32, shape: nil)
        return b.graph
    }

    @Test func convStateFollowsInputShapes() throws {
        let g = try graph()
        let shapes: [[Int]] = [[1, 4, 8, 8], [2, 4, 5, 9], [1, 4, 8, 8], [1, 4, 1, 1]]
        for threads in [1, 2] {
            let session = try Session(graph: g, options: SessionOptions(threads: threads))
            for (i, dims) in shapes.enumerated() {
                let x = try values(dims, UInt64(10 + i))
                let y = try session.run(["x": x])[0]
                let expected = [dims[0], 5, (dims[2] + 2 - 3) / 2 + 1, (dims[3] + 2 - 3) / 2 + 1]
                #expect(y.shape == Shape(expected), "run \(i) threads \(threads)")
                let fresh = try Session(graph: g, options: SessionOptions(threads: threads)).run(["x": x])[0]
                #expect(y.shape == fresh.shape)
                #expect(maxRelativeError(y, fresh) < 1e-6, "run \(i) threads \(threads)")
            }
        }
    }

    /// A broadcasting Mul and Add keep their plan per node; fed shapes A, B, A the results
    /// are x * s + x computed element by element here.
    @Test func broadcastStateFollowsInputShapes() throws {
        var b = GraphBuilder(name: "broadcast", opset: 17)
        let x = b.input("x", dtype: .float32, shape: [.symbolic("N"), .fixed(3), .symbolic("H"), .symbolic("W")])
        let scale = try values([1, 3, 1, 1], 5)
        let s = b.initializer("s", scale)
        b.output(b.node("Add", [b.node("Mul", [x, s]), x]), dtype: .float32, shape: nil)
        let g = b.graph
        for threads in [1, 2] {
            let session = try Session(graph: g, options: SessionOptions(threads: threads))
            for (i, dims) in [[1, 3, 4, 4], [2, 3, 1, 5], [1, 3, 4, 4]].enumerated() {
                let xv = try values(dims, UInt64(20 + i))
                let y = try session.run(["x": xv])[0]
                #expect(y.shape == Shape(dims))
                let xs = xv.scalars(as: Float.self), ss = scale.scalars(as: Float.self), ys = y.scalars(as: Float.self)
                let plane = dims[2] * dims[3]
                for k in xs.indices {
                    let c = (k / plane) % 3
                    #expect(abs(ys[k] - (xs[k] * ss[c] + xs[k])) <= 1e-6 * max(1, abs(ys[k])), "run \(i) element \(k)")
                }
            }
        }
    }

    /// Ops whose outputs do not come from the buffer pool still give them back to it; run
    /// after run the pool must stay bounded (it once kept every such buffer: 79 after 40
    /// runs here).
    @Test func repeatedRunsKeepTheBufferPoolBounded() throws {
        var b = GraphBuilder(name: "pool", opset: 17)
        let x = b.input("x", dtype: .float32, shape: [.fixed(1), .fixed(4), .fixed(4), .fixed(4)])
        var h = x
        for i in 0..<3 {
            let w = b.initializer("w\(i)", try values([4, 4, 1, 1], UInt64(30 + i)))
            h = b.node("Transpose", [b.node("Conv", [h, w])], attributes: ["perm": .ints([0, 1, 3, 2])])
        }
        b.output(h, dtype: .float32, shape: nil)
        let session = try Session(graph: b.graph, options: SessionOptions(threads: 1))
        let xv = try values([1, 4, 4, 4], 40)
        var held: [Int] = []
        for _ in 0..<40 {
            _ = try session.run(["x": xv])
            held.append(session.context.buffers.buffersHeld)
        }
        // All values here have one size: at most the pool's count for it, and steady.
        #expect(held.max()! <= session.context.buffers.maximumPerSize && held[39] == held[20], "buffers held: \(held)")
    }
}
