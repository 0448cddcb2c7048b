import Foundation
import FrugalCore
import FrugalEngine
import Testing
@testable import FrugalEnergy

/// CSR costing of layers the planner marks `frugal.weight_format = "csr"`, on synthetic graphs.
@Suite struct SparseCostTests {
    let cache = CacheInfo(lastLevelBytes: 1 << 20, source: "test")

    func evaluate(_ g: Graph) throws -> ModelEnergy {
        let session = try Session(graph: g, options: SessionOptions(threads: 1))
        return try EnergyModel(costTable: .horowitz45nm, cache: cache).evaluate(session: session, feeds: try zeroFeeds(session), batch: 1)
    }

    /// x[1,4] -> Gemm(W[4,3] with 5 non-zeros, b[3]).
    func gemm(marked: String?) throws -> Graph {
        var b = GraphBuilder(name: "sparse-gemm")
        let x = b.input("x", dtype: .float32, shape: [.fixed(1), .fixed(4)])
        let w = b.initializer("w", try Tensor(shape: [4, 3], scalars: [Float](arrayLiteral: 1, 0, 0, 0, 2, 0, 3, 0, 0, 0, 4, 5)))
        let bias = b.initializer("b", try Tensor(shape: [3], scalars: [Float](arrayLiteral: 0, 0, 0)))
        var attrs: [String: AttributeValue] = [:]
        if let marked { attrs[WeightFormat.attributeKey] = .string(marked) }
        let y = b.node("Gemm", [x, w, bias], name: "fc", attributes: attrs)
        b.output(y, dtype: .float32, shape: [.fixed(1), .fixed(3)])
        return b.graph
    }

    @Test func csrGemmCostsNonZerosAndIndexReads() throws {
        let m = try evaluate(try gemm(marked: "csr"))
        let fc = m.layers[0]
        #expect(fc.weightFormat == .csr(nonZeros: 5, rows: 3))
        // 1 row of x times 5 non-zeros = 5 multiply-adds (dense: 12); bias 3 adds.
        #expect(fc.counts.macs == 5)
        // W as CSR: 5 values x 4 B + 5 column indices x 4 B + (3 + 1) row pointers x 4 B = 56 B.
        #expect(fc.counts.weightBytesRead == 56 + 12)  // + bias 3 x 4 B
        // compute: 8 fp32 adds x 0.9 + 5 fp32 mults x 3.7 = 25.7 pJ;
        // memory: x 16 + W 56 + b 12 + out 12 = 96 B = 24 words x 5 = 120 pJ.
        #expect(relativeError(fc.joules, (8 * 0.9 + 5 * 3.7 + 24 * 5.0) * 1e-12) < 1e-12)
    }

    @Test func unmarkedAndDenseMarkedLayersAreCostedDense() throws {
        for marker in [nil, "dense"] {
            let fc = try evaluate(try gemm(marked: marker)).layers[0]
            #expect(fc.weightFormat == .dense)
            #expect(fc.counts.macs == 12)
            #expect(fc.counts.weightBytesRead == 48 + 12)
        }
    }

    @Test func csrConvRunsNonZerosTimesOutputPositions() throws {
        var b = GraphBuilder(name: "sparse-conv")
        let x = b.input("x", dtype: .float32, shape: [.fixed(1), .fixed(1), .fixed(4), .fixed(4)])
        var weights = [Float](repeating: 0, count: 18)
        for i in [0, 3, 4, 8, 10, 13, 17] { weights[i] = Float(i + 1) }  // 7 non-zeros of 2x1x3x3
        let w = b.initializer("w", try Tensor(shape: [2, 1, 3, 3], scalars: weights))
        let y = b.node("Conv", [x, w], name: "conv", attributes: [WeightFormat.attributeKey: .string("csr")])
        b.output(y, dtype: .float32, shape: [.fixed(1), .fixed(2), .fixed(2), .fixed(2)])
        let conv = try evaluate(b.graph).layers[0]
        // Output 1x2x2x2: each of the 7 non-zeros is used at the 2x2 output positions = 28
        // multiply-adds (dense: 8 outputs x 9 = 72).
        #expect(conv.counts.macs == 28)
        // 7 x (4 + 4) + (2 output channels + 1) x 4 = 68 B of weights.
        #expect(conv.counts.weightBytesRead == 68)
        #expect(conv.weightFormat == .csr(nonZeros: 7, rows: 2))
    }

    @Test func badMarkersAreErrorsThatNameTheNode() throws {
        #expect(throws: EnergyError.self) { _ = try evaluate(try gemm(marked: "coo")) }
        let relu = Node(name: "act", opType: "Relu", inputs: ["x"], outputs: ["y"], attributes: [WeightFormat.attributeKey: .string("csr")])
        do {
            _ = try WeightFormat.of(relu, initializers: [:])
            Issue.record("a CSR marker on Relu must be rejected")
        } catch let e as EnergyError {
            #expect(e.description.contains("'act'"))
        }
    }
}

/// Counts of pooling, normalisation and elementwise ops against hand counts.
@Suite struct OperationCountTests {
    func counts(_ build: (inout GraphBuilder, String) -> String, input: [Int]) throws -> [OperationCounts] {
        var b = GraphBuilder(name: "ops")
        let x = b.input("x", dtype: .float32, shape: input.map { .fixed($0) })
        let y = build(&b, x)
        b.output(y, dtype: .float32, shape: nil)
        let session = try Session(graph: b.graph, options: SessionOptions(threads: 1))
        let model = EnergyModel(cache: CacheInfo(lastLevelBytes: 1 << 20, source: "test"))
        return try model.evaluate(session: session, feeds: try zeroFeeds(session), batch: 1).layers.map(\.counts)
    }

    @Test func maxPoolComparesKernelMinusOnePerOutput() throws {
        let c = try counts({ b, x in b.node("MaxPool", [x], attributes: ["kernel_shape": .ints([2, 2]), "strides": .ints([2, 2])]) },
                           input: [1, 1, 4, 4])[0]
        // 4 outputs x (4 - 1) comparisons = 12 fp32 adds; reads 16 x 4 B, writes 4 x 4 B.
        #expect(c.adds == [.fp32: 12] && c.mults.isEmpty && c.macs == 0)
        #expect(c.bytes == 64 + 16)
    }

    @Test func globalAveragePoolAddsEveryInputAndScalesEveryOutput() throws {
        let c = try counts({ b, x in b.node("GlobalAveragePool", [x]) }, input: [1, 2, 3, 3])[0]
        #expect(c.adds == [.fp32: 18] && c.mults == [.fp32: 2])
    }

    @Test func reshapeMovesNothingAndSoftmaxCountsItsExp() throws {
        let c = try counts({ b, x in
            let shape = b.initializer("shape", try! Tensor(shape: [2], scalars: [Int64](arrayLiteral: 1, 6)))
            return b.node("Softmax", [b.node("Reshape", [x, shape])], attributes: ["axis": .int(1)])
        }, input: [1, 2, 3])
        #expect(c[0].bytes == 0 && c[0].adds.isEmpty)
        // 6 elements x (exp: 8 adds + 8 mults; max, subtract, sum: 3 adds; scale: 1 mult).
        #expect(c[1].adds == [.fp32: 66] && c[1].mults == [.fp32: 54])
    }

    @Test func unknownOpsAreFlaggedNotSilentlyCosted() throws {
        let c = try counts({ b, x in b.node("CumSum", [x, b.initializer("axis", Tensor(scalar: Int64(1)))]) }, input: [1, 5])
        #expect(c[0].modeled == false)
        #expect(c[0].adds == [.fp32: 5])
    }
}
