import Foundation
import FrugalCore

/// Graph rewrites that remove work: BatchNormalization and per-channel constant Adds folded
/// into the Conv (or Gemm) before them, residual Adds folded into the Conv before them, and
/// activations (HardSwish also when spelt out, DecomposedFusions.swift) fused into the op
/// before them. Each pass takes and returns a whole graph
/// and never changes what the graph computes beyond float rounding.
enum Fusions {
    static let passes: [(Graph) throws -> Graph] = [
        foldBatchNormalization, foldConstantAdds, fuseResidualAdds, fuseDecomposedHardSwish, fuseActivations,
    ]

    /// Attribute of a Conv whose input 3 is added to its output (a folded residual Add).
    static let residualKey = "frugal.residual"

    /// Readers of each value (graph outputs count as a reader).
    static func readerCounts(_ g: Graph) -> [String: Int] {
        var c: [String: Int] = [:]
        for n in g.nodes { for i in n.inputs where !i.isEmpty { c[i, default: 0] += 1 } }
        for o in g.outputs { c[o.name, default: 0] += 1 }
        return c
    }

    /// The index of the node making each value.
    static func producers(_ g: Graph) -> [String: Int] {
        var p: [String: Int] = [:]
        for (i, n) in g.nodes.enumerated() { for o in n.outputs { p[o] = i } }
        return p
    }

    /// `nodes` without those at the `removed` indices.
    static func dropping(_ removed: Set<Int>, from nodes: [Node]) -> [Node] {
        nodes.enumerated().filter { !removed.contains($0.offset) }.map(\.element)
    }

    /// Conv -> BatchNormalization (inference form, constant parameters) becomes one Conv with
    /// scaled weights and a new bias; likewise Gemm whose output feeds BatchNormalization.
    static func foldBatchNormalization(_ graph: Graph) throws -> Graph {
        var g = graph
        let readers = readerCounts(g)
        let producer = producers(g)
        var removed = Set<Int>()
        for (bi, bn) in g.nodes.enumerated() where bn.opType == "BatchNormalization" && bn.domain.isEmpty {
            guard bn.outputs.count == 1 || bn.outputs.dropFirst().allSatisfy({ $0.isEmpty }),
                  bn.inputs.count == 5, try bn.int("training_mode", default: 0) == 0,
                  let pi = producer[bn.inputs[0]], !removed.contains(pi),
                  readers[bn.inputs[0]] == 1,
                  let scale = g.initializers[bn.inputs[1]], let bias = g.initializers[bn.inputs[2]],
                  let mean = g.initializers[bn.inputs[3]], let variance = g.initializers[bn.inputs[4]],
                  [scale, bias, mean, variance].allSatisfy({ $0.dtype == .float32 })
            else { continue }
            var conv = g.nodes[pi]
            let eps = try bn.float("epsilon", default: 1e-5)
            let s = zip(scale.scalars(as: Float.self), variance.scalars(as: Float.self)).map { $0 / ($1 + eps).squareRoot() }
            let shift = zip(zip(bias.scalars(as: Float.self), mean.scalars(as: Float.self)), s).map { ($0.0 - $0.1 * $1) }
            let channels = s.count
            if conv.opType == "Conv", conv.domain.isEmpty, conv.inputs.count >= 2,
               let w = g.initializers[conv.inputs[1]], w.dtype == .float32, w.rank >= 3, w.shape[0] == channels {
                var nw = w
                let per = w.elementCount / channels
                nw.withUnsafeMutableBufferPointer(as: Float.self) { p in
                    for c in 0..<channels { for j in 0..<per { p[c * per + j] *= s[c] } }
                }
                var b = [Float](repeating: 0, count: channels)
                if conv.inputs.count > 2, !conv.inputs[2].isEmpty {
                    guard let ob = g.initializers[conv.inputs[2]], ob.dtype == .float32, ob.elementCount == channels else { continue }
                    b = ob.scalars(as: Float.self)
                }
                let nb = (0..<channels).map { b[$0] * s[$0] + shift[$0] }
                let wName = uniqueName(conv.inputs[1] + "_bnfolded", in: g)
                g.initializers[wName] = nw
                let bName = uniqueName(conv.name + "_bias_bnfolded", in: g)
                g.initializers[bName] = try Tensor(shape: [channels], scalars: nb)
                conv.inputs = [conv.inputs[0], wName, bName]
            } else if conv.opType == "Gemm", conv.domain.isEmpty, conv.inputs.count >= 2,
                      let w = g.initializers[conv.inputs[1]], w.dtype == .float32, w.rank == 2 {
                let transB = try conv.int("transB", default: 0) == 1
                let alpha = try conv.float("alpha", default: 1), beta = try conv.float("beta", default: 1)
                let (k, n) = transB ? (w.shape[1], w.shape[0]) : (w.shape[0], w.shape[1])
                guard n == channels else { continue }
                var nw = w
                nw.withUnsafeMutableBufferPointer(as: Float.self) { p in
                    for kk in 0..<k { for j in 0..<n { p[transB ? j * k + kk : kk * n + j] *= s[j] * alpha } }
                }
                var c = [Float](repeating: 0, count: n)
                if conv.inputs.count > 2, !conv.inputs[2].isEmpty {
                    guard let oc = g.initializers[conv.inputs[2]], oc.dtype == .float32 else { continue }
                    if oc.elementCount == n { c = oc.scalars(as: Float.self) }
                    else if oc.elementCount == 1 { c = [Float](repeating: oc.scalars(as: Float.self)[0], count: n) }
                    else { continue }
                }
                let nc = (0..<n).map { beta * c[$0] * s[$0] + shift[$0] }
                let wName = uniqueName(conv.inputs[1] + "_bnfolded", in: g)
                g.initializers[wName] = nw
                let cName = uniqueName(conv.name + "_bias_bnfolded", in: g)
                g.initializers[cName] = try Tensor(shape: [n], scalars: nc)
                conv.inputs = [conv.inputs[0], wName, cName]
                conv.attributes["alpha"] = .float(1)
                conv.attributes["beta"] = .float(1)
            } else {
                continue
            }
            conv.outputs = [bn.outputs[0]]
            g.nodes[pi] = conv
            removed.insert(bi)
        }
        g.nodes = dropping(removed, from: g.nodes)
        return dropUnusedInitializers(g)
    }

    /// Add(Conv(...), s) in either order, where the Conv's output has no other reader and
    /// the Conv no fused activation, becomes Conv(X, W, B, s) with `frugal.residual`: the
    /// Conv starts from s and accumulates into it in its GEMM epilogue, instead of a separate
    /// Add reading both tensors and writing a third (MobileNetV2's inverted residuals, ResNet
    /// blocks). Runs before activation fusion, so Add -> Relu then fuses as clamp(conv + s).
    /// s must be computed (an initializer could broadcast); the Conv checks shapes at run
    /// time and falls back to a plain add when they differ.
    static func fuseResidualAdds(_ graph: Graph) throws -> Graph {
        var g = graph
        let readers = readerCounts(g)
        let producer = producers(g)
        var removed = Set<Int>()
        for (ai, add) in g.nodes.enumerated() where add.opType == "Add" && add.domain.isEmpty
            && add.inputs.count == 2 && add.outputs.count == 1 {
            for side in 0..<2 {
                let y = add.inputs[side], s = add.inputs[1 - side]
                guard !y.isEmpty, !s.isEmpty, y != s, g.initializers[s] == nil, readers[y] == 1,
                      let pi = producer[y], !removed.contains(pi) else { continue }
                var conv = g.nodes[pi]
                guard conv.opType == "Conv", conv.domain.isEmpty, conv.outputs.count == 1,
                      (2...3).contains(conv.inputs.count), conv.attributes[FusedActivation.key] == nil,
                      conv.attributes[residualKey] == nil else { continue }
                while conv.inputs.count < 3 { conv.inputs.append("") }
                conv.inputs.append(s)
                conv.attributes[residualKey] = .int(1)
                conv.outputs = [add.outputs[0]]
                g.nodes[pi] = conv
                removed.insert(ai)
                break
            }
        }
        g.nodes = dropping(removed, from: g.nodes)
        return g
    }

    /// Relu, Clip (constant bounds), LeakyRelu, HardSigmoid and HardSwish after Conv, Gemm or
    /// MatMul become a `frugal.activation` attribute of that op (see ``FusedActivation``).
    static func fuseActivations(_ graph: Graph) throws -> Graph {
        var g = graph
        let readers = readerCounts(g)
        let producer = producers(g)
        var removed = Set<Int>()
        for (ai, act) in g.nodes.enumerated() where act.domain.isEmpty && !act.inputs.isEmpty {
            guard let pi = producer[act.inputs[0]], !removed.contains(pi), readers[act.inputs[0]] == 1 else { continue }
            var host = g.nodes[pi]
            guard takesActivation(host),
                  let fused = try FusedActivation(node: act, initializers: g.initializers)
            else { continue }
            fused.store(in: &host)
            host.outputs = [act.outputs[0]]
            g.nodes[pi] = host
            removed.insert(ai)
        }
        g.nodes = dropping(removed, from: g.nodes)
        return dropUnusedInitializers(g)
    }

    /// Whether an activation can be fused into `node`: a default-domain Conv, Gemm or MatMul
    /// with one output and no fused activation yet.
    static func takesActivation(_ node: Node) -> Bool {
        ["Conv", "Gemm", "MatMul"].contains(node.opType) && node.domain.isEmpty && node.outputs.count == 1
            && node.attributes[FusedActivation.key] == nil
    }

    static func uniqueName(_ base: String, in g: Graph) -> String {
        var name = base, i = 1
        while g.initializers[name] != nil { name = "\(base)_\(i)"; i += 1 }
        return name
    }

    static func dropUnusedInitializers(_ graph: Graph) -> Graph {
        var g = graph
        var used = Set(g.outputs.map(\.name))
        for n in g.nodes { used.formUnion(n.inputs) }
        for i in g.inputs { used.insert(i.name) }
        for k in Array(g.initializers.keys) where !used.contains(k) { g.initializers[k] = nil }
        return g
    }
}
