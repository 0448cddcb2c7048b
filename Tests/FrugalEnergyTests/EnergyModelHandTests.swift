import Foundation
import FrugalCore
import FrugalEngine
import Testing
@testable import FrugalEnergy

/// The model's energy for small graphs, against arithmetic done by hand with Horowitz's
/// 45 nm figures (pJ): fp32 add 0.9, fp32 mult 3.7, int8 mult 0.2, int32 add 0.1,
/// 32-bit SRAM read 5, 32-bit DRAM read 640.
@Suite struct EnergyModelHandTests {
    /// Everything fits: every word is charged at the SRAM cost.
    let bigCache = CacheInfo(lastLevelBytes: 1 << 20, source: "test")

    /// x[B,4] -> Gemm(W1[4,3], b1[3]) -> Relu -> Gemm(W2[3,2], b2[2]) -> y[B,2], fp32.
    func fp32Graph() throws -> Graph {
        var b = GraphBuilder(name: "two-layer")
        let x = b.input("x", dtype: .float32, shape: [.symbolic("N"), .fixed(4)])
        let w1 = b.initializer("w1", try Tensor(shape: [4, 3], scalars: (0..<12).map { Float($0) * 0.1 - 0.5 }))
        let b1 = b.initializer("b1", try Tensor(shape: [3], scalars: [Float](arrayLiteral: 0.1, 0.2, 0.3)))
        let h = b.node("Gemm", [x, w1, b1], name: "fc1")
        let r = b.node("Relu", [h], name: "relu1")
        let w2 = b.initializer("w2", try Tensor(shape: [3, 2], scalars: (0..<6).map { Float($0) * 0.2 - 0.4 }))
        let b2 = b.initializer("b2", try Tensor(shape: [2], scalars: [Float](arrayLiteral: -0.1, 0.1)))
        let y = b.node("Gemm", [r, w2, b2], name: "fc2")
        b.output(y, dtype: .float32, shape: [.symbolic("N"), .fixed(2)])
        return b.graph
    }

    func model(_ g: Graph, batch: Int, cache: CacheInfo) throws -> ModelEnergy {
        let session = try Session(graph: g, options: SessionOptions(threads: 1))
        return try EnergyModel(costTable: .horowitz45nm, cache: cache)
            .evaluate(session: session, feeds: try zeroFeeds(session, batch: batch), batch: batch)
    }

    @Test func fp32TwoLayerGraphAtBatchOne() throws {
        let m = try model(try fp32Graph(), batch: 1, cache: bigCache)
        // The planner fuses the Relu into fc1, so two nodes run.
        #expect(m.layers.map(\.name) == ["fc1", "fc2"])
        // fc1: 1x3 outputs x 4 = 12 multiply-adds -> 12 fp32 mults, 12 fp32 adds;
        //      bias: 3 adds; fused Relu: 3 comparisons (costed as adds) -> 18 adds, 12 mults.
        //      compute = 18 x 0.9 + 12 x 3.7 = 16.2 + 44.4 = 60.6 pJ
        //      bytes = x 4x4 + W1 12x4 + b1 3x4 + out 3x4 = 16 + 48 + 12 + 12 = 88 B = 22 words
        //      memory = 22 x 5 = 110 pJ
        let fc1 = 18 * 0.9 + 12 * 3.7 + 22 * 5.0
        // fc2: 1x2 outputs x 3 = 6 multiply-adds; bias 2 adds -> 8 adds, 6 mults.
        //      compute = 8 x 0.9 + 6 x 3.7 = 7.2 + 22.2 = 29.4 pJ
        //      bytes = 3x4 + 6x4 + 2x4 + 2x4 = 12 + 24 + 8 + 8 = 52 B = 13 words -> 65 pJ
        let fc2 = 8 * 0.9 + 6 * 3.7 + 13 * 5.0
        // Total 60.6 + 110 + 29.4 + 65 = 265.0 pJ.
        #expect(relativeError(m.layers[0].joules, fc1 * 1e-12) < 1e-12)
        #expect(relativeError(m.layers[1].joules, fc2 * 1e-12) < 1e-12)
        #expect(relativeError(m.joulesPerInference, 265.0e-12) < 1e-12)
        #expect(m.layers.map(\.counts.macs) == [12, 6])
        #expect(m.macsPerInference == 18)
        #expect(m.layers.map(\.parameters) == [15, 8])
        #expect(m.layers.map(\.counts.bytes) == [88, 52])
        #expect(m.reading.kind == .estimated && m.reading.source == "model:horowitz-45nm")
    }

    @Test func fp32BatchSharesWeightReads() throws {
        let m = try model(try fp32Graph(), batch: 2, cache: bigCache)
        // Batch 2: arithmetic doubles, weights are read once per run.
        // fc1: 2 x 60.6 = 121.2 pJ; bytes 32 + 48 + 12 + 24 = 116 B = 29 words -> 145 pJ
        // fc2: 2 x 29.4 = 58.8 pJ; bytes 24 + 24 + 8 + 16 = 72 B = 18 words -> 90 pJ
        // Per example: (121.2 + 145 + 58.8 + 90) / 2 = 207.5 pJ.
        let run = 2 * (18 * 0.9 + 12 * 3.7) + 29 * 5.0 + 2 * (8 * 0.9 + 6 * 3.7) + 18 * 5.0
        #expect(relativeError(m.joulesPerInference, run / 2 * 1e-12) < 1e-12)
        #expect(relativeError(m.joulesPerInference, 207.5e-12) < 1e-12)
        #expect(m.macsPerInference == 18)
    }

    @Test func workingSetLargerThanTheCacheIsChargedAtDRAM() throws {
        // A 64-byte cache: fc1's 88 B working set does not fit, fc2's 52 B does.
        let m = try model(try fp32Graph(), batch: 1, cache: CacheInfo(lastLevelBytes: 64, source: "test"))
        #expect(m.layers.map(\.memoryLevel) == [.dram, .sram])
        // fc1: 60.6 + 22 words x 640 = 60.6 + 14080 pJ; fc2 unchanged: 29.4 + 65 pJ.
        let expected = (18 * 0.9 + 12 * 3.7 + 22 * 640.0) + (8 * 0.9 + 6 * 3.7 + 13 * 5.0)
        #expect(relativeError(m.joulesPerInference, expected * 1e-12) < 1e-12)
    }

    /// uint8 activations, int8 weights: a[1,4] -> QLinearMatMul(W1[4,3]) -> QLinearMatMul(W2[3,2]).
    func int8Graph() throws -> Graph {
        var b = GraphBuilder(name: "two-layer-int8")
        var v = b.input("a", dtype: .uint8, shape: [.fixed(1), .fixed(4)])
        for (i, (k, n)) in [(4, 3), (3, 2)].enumerated() {
            let w = b.initializer("w\(i)", try Tensor(shape: [k, n], scalars: (0..<(k * n)).map { Int8($0 * 7 % 11 - 5) }))
            let inputs = [
                v, b.initializer("a_scale\(i)", Tensor(scalar: Float(0.05))), b.initializer("a_zp\(i)", Tensor(scalar: UInt8(128))),
                w, b.initializer("w_scale\(i)", Tensor(scalar: Float(0.02))), b.initializer("w_zp\(i)", Tensor(scalar: Int8(0))),
                b.initializer("y_scale\(i)", Tensor(scalar: Float(0.1))), b.initializer("y_zp\(i)", Tensor(scalar: UInt8(128))),
            ]
            v = b.node("QLinearMatMul", inputs, name: "qfc\(i + 1)")
        }
        b.output(v, dtype: .uint8, shape: [.fixed(1), .fixed(2)])
        return b.graph
    }

    @Test func int8TwoLayerGraph() throws {
        let m = try model(try int8Graph(), batch: 1, cache: bigCache)
        #expect(m.layers.map(\.opType) == ["QLinearMatMul", "QLinearMatMul"])
        // qfc1: 12 multiply-adds -> 12 int8 mults x 0.2 + 12 int32 adds x 0.1 = 2.4 + 1.2 pJ;
        //       requantization of 3 outputs in fp32: 3 x (3.7 + 0.9) = 13.8 pJ;
        //       bytes = a 4 + a_scale 4 + a_zp 1 + W1 12 + w_scale 4 + w_zp 1 + y_scale 4 + y_zp 1
        //               + out 3 = 34 B = 8.5 words -> 42.5 pJ. Total 59.9 pJ.
        let q1 = 12 * 0.2 + 12 * 0.1 + 3 * (3.7 + 0.9) + 8.5 * 5
        // qfc2: 6 x 0.2 + 6 x 0.1 = 1.8 pJ; requantization 2 x 4.6 = 9.2 pJ;
        //       bytes = 3 + 4 + 1 + 6 + 4 + 1 + 4 + 1 + 2 = 26 B = 6.5 words -> 32.5 pJ. Total 43.5 pJ.
        let q2 = 6 * 0.2 + 6 * 0.1 + 2 * (3.7 + 0.9) + 6.5 * 5
        // Whole graph: 59.9 + 43.5 = 103.4 pJ, against 265.0 pJ in fp32.
        #expect(relativeError(m.layers[0].joules, q1 * 1e-12) < 1e-12)
        #expect(relativeError(m.layers[1].joules, q2 * 1e-12) < 1e-12)
        #expect(relativeError(m.joulesPerInference, 103.4e-12) < 1e-12)
        #expect(m.macsPerInference == 18)
        #expect(m.layers[0].counts.mults[.int8] == 12 && m.layers[0].counts.adds[.int32] == 12)
        #expect(m.layers.map(\.parameters) == [12, 6])
    }

    @Test func matMulIntegerAccumulatesInInt32WithoutRequantization() throws {
        var b = GraphBuilder(name: "mmi")
        let a = b.input("a", dtype: .uint8, shape: [.fixed(1), .fixed(4)])
        let w = b.initializer("w", try Tensor(shape: [4, 3], scalars: (0..<12).map { Int8($0 - 6) }))
        let y = b.node("MatMulInteger", [a, w, b.initializer("a_zp", Tensor(scalar: UInt8(3))), b.initializer("w_zp", Tensor(scalar: Int8(0)))])
        b.output(y, dtype: .int32, shape: [.fixed(1), .fixed(3)])
        let m = try model(b.graph, batch: 1, cache: bigCache)
        // 12 int8 mults x 0.2 + 12 int32 adds x 0.1 = 3.6 pJ;
        // bytes a 4 + w 12 + a_zp 1 + w_zp 1 + out 3x4 = 30 B = 7.5 words -> 37.5 pJ.
        #expect(relativeError(m.joulesPerInference, (12 * 0.2 + 12 * 0.1 + 7.5 * 5) * 1e-12) < 1e-12)
    }
}
