import FrugalCore

/// Graph-level checks and rewrites done once, before execution.
public enum Planner {
    /// Throws one error listing every op type of the graph that Frugal does not run.
    public static func checkSupported(_ graph: Graph) throws {
        var missing: [String: Int] = [:]
        for n in graph.nodes where OperatorRegistry.schema(n.opType, domain: n.domain) == nil {
            let name = n.domain.isEmpty || n.domain == "ai.onnx" ? n.opType : "\(n.domain).\(n.opType)"
            missing[name, default: 0] += 1
        }
        if !missing.isEmpty {
            throw EngineError.unsupportedOperators(missing.sorted { $0.key < $1.key }.map { "\($0.key) (\($0.value) node\($0.value == 1 ? "" : "s"))" })
        }
    }

    /// Nodes in an order where every value is produced before it is read (Kahn's algorithm,
    /// stable with respect to the graph's own order).
    public static func topologicalOrder(_ graph: Graph) throws -> [Node] {
        var producer: [String: Int] = [:]
        for (i, n) in graph.nodes.enumerated() {
            for o in n.outputs where !o.isEmpty {
                if producer[o] != nil {
                    throw EngineError.invalidGraph("value '\(o)' is produced by two nodes ('\(graph.nodes[producer[o]!].name)' and '\(n.name)'); each value must have one producer")
                }
                producer[o] = i
            }
        }
        var indegree = [Int](repeating: 0, count: graph.nodes.count)
        var consumers = [[Int]](repeating: [], count: graph.nodes.count)
        for (i, n) in graph.nodes.enumerated() {
            for name in Set(n.inputs) where !name.isEmpty {
                if let p = producer[name] {
                    if p == i {
                        throw EngineError.invalidGraph("node '\(n.name)' (\(n.opType)) reads its own output '\(name)'")
                    }
                    indegree[i] += 1
                    consumers[p].append(i)
                }
            }
        }
        var ready = (0..<graph.nodes.count).filter { indegree[$0] == 0 }
        var order: [Node] = []
        order.reserveCapacity(graph.nodes.count)
        var head = 0
        while head < ready.count {
            let i = ready[head]
            head += 1
            order.append(graph.nodes[i])
            for c in consumers[i] {
                indegree[c] -= 1
                if indegree[c] == 0 { ready.append(c) }
            }
        }
        if order.count != graph.nodes.count {
            let stuck = (0..<graph.nodes.count).filter { indegree[$0] > 0 }.prefix(5).map { graph.nodes[$0].name }
            throw EngineError.invalidGraph("the graph has a cycle through nodes \(stuck)")
        }
        return order
    }

    /// Runs the graph rewrites: constant folding, then the fusions that the op families
    /// provide (BatchNormalization into Conv/Gemm, activations into the op before them), then
    /// the inverted-residual blocks into banded ops unless `convBlocks` is off.
    public static func optimize(_ graph: Graph, context: ExecutionContext,
                                convBlocks: ConvBlockFusion = .auto) throws -> Graph {
        var g = graph
        g.nodes = try topologicalOrder(g)
        g = try ConstantFolding.apply(g, context: context)
        for pass in Fusions.passes { g = try pass(g) }
        return try Fusions.fuseConvBlocks(g, mode: convBlocks)
    }
}

/// Evaluates nodes whose inputs are all constant and turns their outputs into initializers.
enum ConstantFolding {
    /// Ops never folded: their result depends on more than their inputs.
    static let unfoldable: Set<String> = ["RandomNormal", "RandomUniform", "RandomNormalLike", "RandomUniformLike", "Multinomial", "Bernoulli"]

    static func apply(_ graph: Graph, context: ExecutionContext) throws -> Graph {
        var g = graph
        let outputs = Set(g.outputs.map(\.name))
        var kept: [Node] = []
        for node in g.nodes {
            let constantInputs = node.inputs.allSatisfy { $0.isEmpty || g.initializers[$0] != nil }
            guard constantInputs, !unfoldable.contains(node.opType),
                  !node.outputs.contains(where: { outputs.contains($0) }),
                  let schema = OperatorRegistry.schema(node.opType, domain: node.domain)
            else {
                kept.append(node)
                continue
            }
            let args = node.inputs.map { $0.isEmpty ? nil : g.initializers[$0] }
            let results = try schema.run(OpCall(node: node, inputs: args, context: context))
            for (i, name) in node.outputs.enumerated() where !name.isEmpty && i < results.count {
                g.initializers[name] = results[i]
            }
        }
        g.nodes = kept
        return Fusions.dropUnusedInitializers(g)
    }
}

