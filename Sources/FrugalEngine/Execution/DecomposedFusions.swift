import FrugalCore

/// Rewrites for forms that exporters spell out in several nodes (Paddle, older PyTorch
/// opsets, hand-built graphs):
/// - a per-channel constant added after a Conv (Paddle writes the bias as a Reshape'd
///   initializer and an Add) is folded into the Conv's bias;
/// - HardSwish written as x·Clip(x+3, 0, 6)/6 (or ·(1/6)), or x·HardSigmoid(x) with
///   alpha 1/6 and beta 0.5, after a Conv, Gemm or MatMul becomes that op's fused HardSwish.
/// Like the other passes, neither changes what the graph computes beyond float rounding.
extension Fusions {
    /// Conv -> Add(constant) where the constant is one value per output channel (shape
    /// [C,1,...,1] or [1,C,1,...,1], or a single value): the constant joins the Conv's bias.
    static func foldConstantAdds(_ graph: Graph) throws -> Graph {
        var g = graph
        let readers = readerCounts(g)
        let producer = producers(g)
        var removed = Set<Int>()
        for (ai, add) in g.nodes.enumerated() where add.opType == "Add" && add.domain.isEmpty
            && add.inputs.count == 2 && add.outputs.count == 1 {
            for side in 0..<2 {
                let y = add.inputs[side], c = add.inputs[1 - side]
                guard !y.isEmpty, let k = g.initializers[c], k.dtype == .float32, readers[y] == 1,
                      let pi = producer[y], !removed.contains(pi) else { continue }
                var conv = g.nodes[pi]
                guard conv.opType == "Conv", conv.domain.isEmpty, conv.outputs.count == 1, conv.inputs.count >= 2,
                      conv.attributes[FusedActivation.key] == nil,
                      let w = g.initializers[conv.inputs[1]], w.dtype == .float32, w.rank >= 3,
                      let extra = perChannel(k, channels: w.shape[0], outputRank: w.rank)
                else { continue }
                var bias = [Float](repeating: 0, count: w.shape[0])
                if conv.inputs.count > 2, !conv.inputs[2].isEmpty {
                    guard let b = g.initializers[conv.inputs[2]], b.dtype == .float32, b.elementCount == bias.count else { continue }
                    bias = b.scalars(as: Float.self)
                }
                let name = uniqueName(conv.name + "_bias_addfolded", in: g)
                g.initializers[name] = try Tensor(shape: [bias.count], scalars: zip(bias, extra).map { $0 + $1 })
                while conv.inputs.count < 3 { conv.inputs.append("") }
                conv.inputs[2] = name
                conv.outputs = [add.outputs[0]]
                g.nodes[pi] = conv
                removed.insert(ai)
                break
            }
        }
        g.nodes = dropping(removed, from: g.nodes)
        return dropUnusedInitializers(g)
    }

    /// The constant's value for each of `channels` output channels when adding it to a
    /// [N, channels, ...] tensor of rank `outputRank` broadcasts along the channel axis only.
    static func perChannel(_ k: Tensor, channels: Int, outputRank: Int) -> [Float]? {
        let v = k.scalars(as: Float.self)
        if k.elementCount == 1, k.rank <= outputRank { return [Float](repeating: v[0], count: channels) }
        guard k.rank <= outputRank, k.rank >= outputRank - 1, k.elementCount == channels else { return nil }
        // Right-aligned against the output, the constant's channel axis is output axis 1.
        let channelAxis = 1 - (outputRank - k.rank)
        guard channelAxis >= 0, k.shape[channelAxis] == channels else { return nil }
        return v
    }

    /// HardSwish spelt out after a Conv, Gemm or MatMul becomes that op's fused activation.
    /// Only the host's own output may feed the pattern (read by nothing else), and every
    /// intermediate must have one reader and not be a graph output.
    static func fuseDecomposedHardSwish(_ graph: Graph) throws -> Graph {
        var g = graph
        let readers = readerCounts(g)
        let producer = producers(g)
        var removed = Set<Int>()

        /// The node making `value`, if it is a default-domain node of one output read only once.
        func singleProducer(_ value: String) -> (Int, Node)? {
            guard readers[value] == 1, let i = producer[value], !removed.contains(i) else { return nil }
            let n = g.nodes[i]
            return n.domain.isEmpty && n.outputs.count == 1 ? (i, n) : nil
        }
        /// The same, if that node is an `op`.
        func single(_ value: String, _ op: String) -> (Int, Node)? {
            singleProducer(value).flatMap { $0.1.opType == op ? $0 : nil }
        }
        func scalar(_ name: String) -> Float? {
            guard let t = g.initializers[name], t.dtype == .float32, t.elementCount == 1 else { return nil }
            return t.scalars(as: Float.self)[0]
        }
        func near(_ a: Float?, _ b: Float) -> Bool { a.map { abs($0 - b) <= 1e-5 * max(1, abs(b)) } ?? false }
        /// Clip(Add(x, 3), 0, 6): returns x and the nodes.
        func relu6Shifted(_ value: String) -> (String, [Int])? {
            guard let (ci, clip) = single(value, "Clip"), !clip.inputs.isEmpty,
                  case .clip(let lo, let hi)? = try? FusedActivation(node: clip, initializers: g.initializers),
                  near(lo, 0), near(hi, 6),
                  let (ai, add) = single(clip.inputs[0], "Add"), add.inputs.count == 2 else { return nil }
            for side in 0..<2 where near(scalar(add.inputs[1 - side]), 3) && !add.inputs[side].isEmpty {
                return (add.inputs[side], [ci, ai])
            }
            return nil
        }
        /// v when `node` is Div(v, 6) or Mul(v, 1/6).
        func sixthOf(_ node: Node) -> String? {
            guard node.inputs.count == 2 else { return nil }
            if node.opType == "Div", near(scalar(node.inputs[1]), 6) { return node.inputs[0] }
            if node.opType == "Mul" {
                for side in 0..<2 where near(scalar(node.inputs[1 - side]), 1 / 6) { return node.inputs[side] }
            }
            return nil
        }
        /// Div(v, 6) or Mul(v, 1/6) making `value`, read only there: returns v and the node.
        func sixth(_ value: String) -> (String, Int)? {
            guard let (i, n) = singleProducer(value), let v = sixthOf(n) else { return nil }
            return (v, i)
        }
        /// The hard sigmoid of x as a value: HardSigmoid(x, 1/6, 0.5), or Clip(x+3, 0, 6)/6.
        func hardSigmoid(_ value: String) -> (String, [Int])? {
            if let (hi, h) = single(value, "HardSigmoid"), h.inputs.count == 1,
               near(try? h.float("alpha", default: 0.2), 1 / 6), near(try? h.float("beta", default: 0.5), 0.5) {
                return (h.inputs[0], [hi])
            }
            if let (v, di) = sixth(value), let (x, nodes) = relu6Shifted(v) { return (x, nodes + [di]) }
            return nil
        }
        /// x · hardSigmoid(x) in any of the spellings: returns x and the nodes that make it.
        func hardSwish(_ node: Node, at index: Int) -> (String, [Int])? {
            guard node.domain.isEmpty, node.outputs.count == 1 else { return nil }
            if node.opType == "Mul", node.inputs.count == 2 {
                for side in 0..<2 {
                    if let (x, nodes) = hardSigmoid(node.inputs[1 - side]), x == node.inputs[side] { return (x, nodes + [index]) }
                }
            }
            // (x · Clip(x+3, 0, 6)) / 6
            if let v = sixthOf(node), let (mi, mul) = single(v, "Mul"), mul.inputs.count == 2 {
                for side in 0..<2 {
                    if let (x, nodes) = relu6Shifted(mul.inputs[1 - side]), x == mul.inputs[side] { return (x, nodes + [mi, index]) }
                }
            }
            return nil
        }

        for (ni, node) in g.nodes.enumerated() where !removed.contains(ni) {
            guard let (x, nodes) = hardSwish(node, at: ni), Set(nodes).count == nodes.count,
                  nodes.allSatisfy({ !removed.contains($0) }),
                  readers[x] == 2,  // the Add (or HardSigmoid) and the Mul of the pattern
                  let pi = producer[x], !removed.contains(pi) else { continue }
            var host = g.nodes[pi]
            guard takesActivation(host) else { continue }
            FusedActivation.hardSwish.store(in: &host)
            host.outputs = [node.outputs[0]]
            g.nodes[pi] = host
            removed.formUnion(nodes)
        }
        g.nodes = dropping(removed, from: g.nodes)
        return dropUnusedInitializers(g)
    }
}
