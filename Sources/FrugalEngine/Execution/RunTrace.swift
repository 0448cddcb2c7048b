import FrugalCore
import Foundation

/// Element type and shape of one value seen during a traced run.
public struct ValueSummary: Sendable, Hashable {
    public let dtype: DType
    public let shape: [Int]

    public init(dtype: DType, shape: [Int]) {
        self.dtype = dtype
        self.shape = shape
    }

    public var elementCount: Int { shape.reduce(1, *) }
    public var byteCount: Int { elementCount * dtype.byteSize }
}

/// One executed node with the values it actually read and wrote.
public struct NodeTrace: Sendable {
    /// The node as the session executes it (after folding and fusion).
    public let node: Node
    /// One entry per node input; nil for an omitted optional input.
    public let inputs: [ValueSummary?]
    /// One entry per node output; nil for an omitted output.
    public let outputs: [ValueSummary?]
    /// Whether each input is a constant of the executed graph (a weight, bias or shape).
    public let inputIsConstant: [Bool]
}

extension Session {
    /// The nodes the session executes, in execution order (after constant folding,
    /// BatchNormalization folding and activation fusion); a fused inverted-residual block
    /// (ConvBlockFusion.swift) as the Conv nodes it computes, so that cost models see them.
    public var executedNodes: [Node] {
        let order = (try? Planner.topologicalOrder(graph)) ?? graph.nodes
        return order.flatMap { n in
            n.domain == Fusions.blockDomain ? ((try? ConvBlockOperator.body(n)) ?? [n]) : [n]
        }
    }

    /// Runs the executed graph once, node by node in execution order, and records the type
    /// and shape of every value each node reads and writes. Used by cost models that need the
    /// shapes a run really has (the batch, symbolic dimensions); slower than ``run(_:)``.
    public func trace(_ feeds: [String: Tensor]) throws -> [NodeTrace] {
        let required = plan.requiredInputs
        var values: [String: Tensor] = graph.initializers
        for info in required {
            guard let t = feeds[info.name] else {
                throw EngineError.badInput(name: info.name, reason: "required input is missing; the graph's inputs are \(required.map(\.name))")
            }
            try InputValidation.check(t, against: info)
            values[info.name] = t
        }
        for name in feeds.keys where !required.contains(where: { $0.name == name }) {
            throw EngineError.badInput(name: name, reason: "the graph has no such input; its inputs are \(required.map(\.name))")
        }
        let order = executedNodes
        var lastUse: [String: Int] = [:]
        for (i, n) in order.enumerated() { for name in n.inputs where !name.isEmpty { lastUse[name] = i } }
        let keep = Set(graph.outputs.map(\.name)).union(graph.initializers.keys)
        func summary(_ t: Tensor?) -> ValueSummary? { t.map { ValueSummary(dtype: $0.dtype, shape: $0.shape.dims) } }
        var traces: [NodeTrace] = []
        traces.reserveCapacity(order.count)
        for (i, node) in order.enumerated() {
            guard let schema = OperatorRegistry.schema(node.opType, domain: node.domain) else {
                throw EngineError.unsupportedOperators([node.opType])
            }
            let args = node.inputs.map { $0.isEmpty ? nil : values[$0] }
            let results = try schema.run(OpCall(node: node, inputs: args, context: context))
            var outs: [ValueSummary?] = []
            for (j, name) in node.outputs.enumerated() {
                let t = j < results.count && !name.isEmpty ? results[j] : nil
                if let t { values[name] = t }
                outs.append(summary(t))
            }
            traces.append(NodeTrace(node: node, inputs: args.map(summary), outputs: outs,
                                    inputIsConstant: node.inputs.map { graph.initializers[$0] != nil }))
            for name in node.inputs where !name.isEmpty && lastUse[name] == i && !keep.contains(name) { values[name] = nil }
        }
        return traces
    }
}
