import Foundation
import FrugalCore
@testable import FrugalEngine
import FrugalONNX

/// Paths used by the engine tests: fixtures beside this file, shared models beside the repo.
enum EngineFixtures {
    static let directory = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("Fixtures")
    static func path(_ relative: String) -> String { directory.appendingPathComponent(relative).path }
    /// `../shared/models/<name>` relative to the repository root.
    static func sharedModel(_ name: String) -> String {
        URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
            .appendingPathComponent("../shared/models/\(name)").standardizedFileURL.path
    }
}

/// Runs a graph like a Session (same optimisations, registry ops), but falls back to the
/// minimal private ops below for op types the registry does not have yet, so the model
/// tests can run before the math and shape op families land. With every op registered it
/// is a plain Session.
final class ModelRunner {
    let graph: Graph
    let context: ExecutionContext
    let order: [Node]
    let session: Session?
    /// Seconds per op type of the last run (fallback path only).
    var lastProfile: [String: Double] = [:]

    init(graph: Graph, threads: Int = 1) throws {
        if (try? Planner.checkSupported(graph)) != nil {
            session = try Session(graph: graph, options: SessionOptions(threads: threads))
            self.graph = session!.graph
            context = session!.context
        } else {
            session = nil
            context = ExecutionContext(pool: ThreadPool(threadCount: threads), opset: graph.opset)
            self.graph = try Planner.optimize(graph, context: context)
        }
        order = try Planner.topologicalOrder(self.graph)
    }

    func run(_ feeds: [String: Tensor]) throws -> [Tensor] {
        if let session { return try session.run(feeds) }
        var values = graph.initializers
        for (k, v) in feeds { values[k] = v }
        lastProfile = [:]
        for node in order {
            let t0 = DispatchTime.now().uptimeNanoseconds
            let args = node.inputs.map { $0.isEmpty ? nil : values[$0] }
            let outs: [Tensor]
            if let s = OperatorRegistry.schema(node.opType, domain: node.domain) {
                outs = try s.run(OpCall(node: node, inputs: args, context: context))
            } else {
                outs = try PrivateOps.run(node, args)
            }
            for (i, name) in node.outputs.enumerated() where !name.isEmpty && i < outs.count { values[name] = outs[i] }
            var kind = node.opType
            if kind == "Conv", let w = values[node.inputs[1]], w.rank == 4 {
                kind = (try? node.int("group", default: 1)) ?? 1 > 1 ? "Conv depthwise" : w.shape[2] == 1 && w.shape[3] == 1 ? "Conv 1x1" : "Conv kxk"
            }
            lastProfile[kind, default: 0] += Double(DispatchTime.now().uptimeNanoseconds - t0) * 1e-9
        }
        return graph.outputs.map { values[$0.name]! }
    }
}

/// Minimal stand-ins for ops other families own (only what the two real models use).
enum PrivateOps {
    struct Missing: Error { let op: String }

    static func ints(_ t: Tensor) -> [Int] { t.floatScalars().map { Int($0) } }

    static func run(_ node: Node, _ inputs: [Tensor?]) throws -> [Tensor] {
        let x = inputs[0]!
        switch node.opType {
        case "Add": return [try Elementwise.binary(.add, x, inputs[1]!)]
        case "Sub": return [try Elementwise.binary(.sub, x, inputs[1]!)]
        case "Mul": return [try Elementwise.binary(.mul, x, inputs[1]!)]
        case "Div": return [try Elementwise.binary(.div, x, inputs[1]!)]
        case "Relu", "Clip", "HardSigmoid", "HardSwish", "LeakyRelu":
            guard let act = try FusedActivation(node: node, initializers: [:]) ?? clip(node, inputs) else { throw Missing(op: node.opType) }
            var y = x
            y.withUnsafeMutableBufferPointer(as: Float.self) { act.apply($0.baseAddress!, count: $0.count) }
            return [y]
        case "Reshape":
            var dims = ints(inputs[1]!)
            for i in dims.indices where dims[i] == 0 { dims[i] = x.shape[i] }
            if let j = dims.firstIndex(of: -1) {
                dims[j] = x.elementCount / dims.enumerated().filter { $0.offset != j }.map(\.element).reduce(1, *)
            }
            return [try x.reshaped(Shape(dims))]
        case "Flatten":
            let axis = try node.int("axis", default: 1)
            let a = axis < 0 ? axis + x.rank : axis
            return [try x.reshaped([x.shape.dims[..<a].reduce(1, *), x.shape.dims[a...].reduce(1, *)])]
        case "Shape": return [try Tensor(shape: [x.rank], scalars: x.shape.dims.map(Int64.init))]
        case "Cast": return [x]  // only used on shape vectors here: kept as they are
        case "Slice":  // 1-D, step 1
            let v = ints(x), n = v.count
            var s = ints(inputs[1]!)[0], e = ints(inputs[2]!)[0]
            if s < 0 { s += n }
            if e < 0 { e += n }
            s = min(max(s, 0), n)
            e = min(max(e, s), n)
            return [try Tensor(shape: [e - s], scalars: v[s..<e].map(Int64.init))]
        case "Concat":
            let all = inputs.compactMap { $0 }.flatMap(ints)
            return [try Tensor(shape: [all.count], scalars: all.map(Int64.init))]
        case "Softmax": return [try Softmax.softmax(x, axis: try node.int("axis", default: -1))]
        default: throw Missing(op: node.opType)
        }
    }

    static func clip(_ node: Node, _ inputs: [Tensor?]) -> FusedActivation? {
        guard node.opType == "Clip" else { return nil }
        let lo = inputs.count > 1 ? inputs[1]?.floatScalars()[0] : nil, hi = inputs.count > 2 ? inputs[2]?.floatScalars()[0] : nil
        return .clip(min: lo ?? -.greatestFiniteMagnitude, max: hi ?? .greatestFiniteMagnitude)
    }
}

/// Largest |a - e| / max(|e|, 1) over all elements: relative error, absolute for values
/// under 1 in magnitude (logits near zero, where float summation order dominates).
func modelRelativeError(_ a: Tensor, _ e: Tensor) -> Float {
    zip(a.floatScalars(), e.floatScalars()).map { abs($0 - $1) / max(abs($1), 1) }.max() ?? 0
}

/// Largest |a - e| over all elements.
func maxAbsoluteError(_ a: Tensor, _ e: Tensor) -> Float {
    zip(a.floatScalars(), e.floatScalars()).map { abs($0 - $1) }.max() ?? 0
}

/// Index of the largest value of each row of a [rows, n] tensor.
func argmaxRows(_ t: Tensor) -> [Int] {
    let v = t.floatScalars(), n = t.shape[t.rank - 1]
    return (0..<(v.count / n)).map { r in (0..<n).max { v[r * n + $0] < v[r * n + $1] }! }
}
