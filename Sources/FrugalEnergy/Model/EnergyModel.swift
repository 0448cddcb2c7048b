// The op-level energy model: energy per inference from the plan the engine executes.
//
// Assumptions (each one is a choice; the figures it gives are estimates, never measurements):
// 1. What is costed is the executed graph: after constant folding, BatchNormalization folding
//    and activation fusion, with the shapes and element types seen in one real run
//    (`Session.trace`). A fused activation is costed inside its host node.
// 2. Arithmetic: a multiply-add of Conv/Gemm/MatMul costs one multiplication and one addition
//    in the operands' precision; int8 and uint8 operands multiply in int8 and accumulate in
//    int32. Biases cost one addition per output element. Requantization of QLinearConv and
//    QLinearMatMul is costed as the engine does it, in floating point: one fp32 multiply and
//    one fp32 add per output element (zero-point corrections of the integer GEMM, precomputed
//    for constant weights, are not counted). Elementwise, activation, pooling and
//    normalisation ops count their additions (comparisons cost as additions) and
//    multiplications per element (table in OperationCounter.swift; division is costed as a
//    multiplication by a reciprocal, exp/log/tanh/erf/sqrt as 8 multiplications and 8
//    additions). Ops outside the table cost one addition per output element and are flagged.
//    float16 is costed at fp16, 8-bit integers and booleans at int8, int32 and int64 at int32.
// 3. Memory: every input (activations and constants) is read once and every output written
//    once per node, in 32-bit words (bytes / 4). Writes cost what reads cost (the tables give
//    reads). Reshape-like views move nothing. A node whose working set (inputs, weights and
//    outputs) fits the last-level cache is charged the SRAM cost per word, otherwise every
//    word is charged the DRAM cost. Cache contents are not tracked from node to node, and
//    traffic inside a kernel (tiles re-read from L1/L2, registers) is not counted.
// 4. Sparse weights: a node marked `frugal.weight_format = "csr"` runs only the multiply-adds
//    of its non-zero weights and reads its non-zeros, one int32 column index per non-zero and
//    rows + 1 int32 row pointers (WeightFormat.swift).
// 5. Per inference means per example: the run's totals divided by the batch, so weight reads
//    are shared by the examples of a batch.
// 6. The default cost table is Horowitz (ISSCC 2014, 45 nm). Its SRAM figure is for an 8 KB
//    array; large last-level caches cost more per access, and a modern process less per
//    operation. Use `--cost-table` for another process.
import FrugalCore
import FrugalEngine

/// Where a node's memory traffic is charged.
public enum MemoryLevel: String, Sendable, Hashable {
    case sram, dram
}

/// Modeled cost of one executed node over one run of the graph (the whole batch).
public struct LayerEnergy: Sendable {
    public let name: String
    public let opType: String
    /// Parameters of the node in the executed graph.
    public let parameters: Int
    public let counts: OperationCounts
    public let weightFormat: WeightFormat
    public let memoryLevel: MemoryLevel
    /// Joules of arithmetic for the whole batch.
    public let computeJoules: Double
    /// Joules of memory traffic for the whole batch.
    public let memoryJoules: Double

    public var joules: Double { computeJoules + memoryJoules }
    /// Whether the node's multiply-adds count in ``ModelEnergy/macsPerInference``.
    public var countsTowardMACs: Bool { OperationCounter.macOps.contains(opType) }
}

/// Modeled energy of a whole executed graph.
public struct ModelEnergy: Sendable {
    public let layers: [LayerEnergy]
    /// Examples per run the counts were taken at.
    public let batch: Int
    public let costTable: CostTable
    public let cache: CacheInfo

    /// Modeled joules per example.
    public var joulesPerInference: Double { layers.reduce(0) { $0 + $1.joules } / Double(batch) }
    /// Conv/Gemm/MatMul-family multiply-adds per example (the papers' convention).
    public var macsPerInference: Int { layers.filter(\.countsTowardMACs).reduce(0) { $0 + $1.counts.macs } / batch }
    /// The figure as a reading: kind `.estimated`, source `model:<cost table>`.
    public var reading: EnergyReading {
        EnergyReading(joules: joulesPerInference, kind: .estimated, source: "model:\(costTable.name)")
    }
}

/// Energy per inference from the executed plan, by operation precision and memory level.
public struct EnergyModel: Sendable {
    public var costTable: CostTable
    public var cache: CacheInfo

    public init(costTable: CostTable = .horowitz45nm, cache: CacheInfo = .read()) {
        self.costTable = costTable
        self.cache = cache
    }

    /// Joules of arithmetic in `counts`.
    public func computeJoules(_ counts: OperationCounts) -> Double {
        var pj = 0.0
        for p in Precision.allCases {
            pj += (counts.adds[p] ?? 0) * costTable.add[p]! + (counts.mults[p] ?? 0) * costTable.mult[p]!
        }
        return pj * 1e-12
    }

    /// The level a node's traffic is charged at: SRAM when its working set fits the cache.
    public func memoryLevel(_ counts: OperationCounts) -> MemoryLevel {
        counts.bytes <= cache.lastLevelBytes ? .sram : .dram
    }

    /// Joules of memory traffic in `counts`.
    public func memoryJoules(_ counts: OperationCounts) -> Double {
        let perWord = memoryLevel(counts) == .sram ? costTable.sramReadPerWord : costTable.dramReadPerWord
        return Double(counts.bytes) / 4 * perWord * 1e-12
    }

    /// Costs one node of a traced run with the given weight storage.
    public func layer(_ trace: NodeTrace, format: WeightFormat = .dense) throws -> LayerEnergy {
        let counts = try OperationCounter.count(trace, format: format)
        return LayerEnergy(name: trace.node.name, opType: trace.node.opType, parameters: ParameterCount.of(trace),
                           counts: counts, weightFormat: format, memoryLevel: memoryLevel(counts),
                           computeJoules: computeJoules(counts), memoryJoules: memoryJoules(counts))
    }

    /// Costs every node of a traced run; `initializers` are the executed graph's constants
    /// (for sparse weights), `batch` the examples per run.
    public func evaluate(_ traces: [NodeTrace], initializers: [String: Tensor], batch: Int) throws -> ModelEnergy {
        guard batch >= 1 else { throw EnergyError.invalidArgument("batch \(batch): must be at least 1") }
        let layers = try traces.map { try layer($0, format: try WeightFormat.of($0.node, initializers: initializers)) }
        return ModelEnergy(layers: layers, batch: batch, costTable: costTable, cache: cache)
    }

    /// Traces one run of `session` on `feeds` and costs it.
    public func evaluate(session: Session, feeds: [String: Tensor], batch: Int) throws -> ModelEnergy {
        try evaluate(try session.trace(feeds), initializers: session.graph.initializers, batch: batch)
    }
}
