import FrugalCore

/// Whether the planner fuses inverted-residual blocks (expand 1x1 Conv -> depthwise Conv
/// [-> project 1x1 Conv]) into one op that runs them band by band (ConvBlockBands.swift).
public enum ConvBlockFusion: Sendable, Equatable {
    /// Keep the convolutions apart.
    case off
    /// Fuse; each block runs in bands when its shapes make that pay
    /// (``ConvBlockDescriptor/bandsPay``), else as the separate convolutions.
    case auto
    /// Fuse and always run in bands of at most `bandRows` output rows (0: as many as fit the
    /// scratch budget). For tests and measurements.
    case always(bandRows: Int)
    /// Fuse and always run as one parallel region split by expanded channels
    /// (ConvBlockChannels.swift), whatever the batch and thread count. For tests and
    /// measurements.
    case channels

    /// The value of the fused node's `frugal.band_rows` attribute: -1 auto,
    /// ``channelsAttribute`` channels, else bandRows.
    var bandRowsAttribute: Int {
        switch self {
        case .off, .auto: return -1
        case .always(let r): return max(0, r)
        case .channels: return Self.channelsAttribute
        }
    }

    static let channelsAttribute = -2
}

extension Fusions {
    /// Domain and op type of a fused block; its attribute `frugal.body` holds the original
    /// Conv nodes (a graph whose nodes read the fused node's inputs by name), and
    /// `frugal.band_rows` the ``ConvBlockFusion`` mode.
    static let blockDomain = "ai.frugal"
    static let blockOpType = "ConvBlock"
    static let blockBodyKey = "frugal.body"
    static let blockBandRowsKey = "frugal.band_rows"

    /// Conv 1x1 (group 1, fused clamp or none) whose output is read only by a depthwise Conv
    /// (group = channels, fused clamp or none), optionally followed, again as its only
    /// reader, by a Conv 1x1 (group 1, with or without a folded residual and clamp), becomes
    /// one `ai.frugal.ConvBlock` node; so does a depthwise Conv with such a project conv
    /// and no expand conv before it. Weights must be initializers; the run checks the rest
    /// (strides, pads) against the actual shapes and runs the original convolutions when the
    /// band kernel does not take them. Runs after the residual and activation fusions.
    static func fuseConvBlocks(_ graph: Graph, mode: ConvBlockFusion) throws -> Graph {
        if mode == .off { return graph }
        var g = graph
        var removed = Set<Int>()
        let readers = readerCounts(g)
        var consumer: [String: Int] = [:]
        for (i, n) in g.nodes.enumerated() { for v in n.inputs where !v.isEmpty { consumer[v] = i } }
        func weight(_ n: Node) -> Tensor? {
            n.inputs.count >= 2 ? g.initializers[n.inputs[1]].flatMap { $0.rank == 4 && $0.dtype == .float32 ? $0 : nil } : nil
        }
        func isConv(_ n: Node) -> Bool {
            n.opType == "Conv" && n.domain.isEmpty && n.outputs.count == 1 && (2...4).contains(n.inputs.count)
                && (n.inputs.count < 3 || n.inputs[2].isEmpty || g.initializers[n.inputs[2]] != nil)
        }
        func clampOnly(_ n: Node) -> Bool {
            do {
                guard let a = try FusedActivation(fusedIn: n) else { return true }
                return a.clampRange != nil
            } catch { return false }
        }
        func residual(_ n: Node) -> Bool { (try? n.int(residualKey, default: 0)) == 1 }
        func pointwise(_ n: Node) -> Bool {
            guard isConv(n), let w = weight(n), w.shape[2] == 1, w.shape[3] == 1 else { return false }
            return (try? n.int("group", default: 1)) == 1 && clampOnly(n)
        }
        /// The single reader of `n`'s output, if it is the only one.
        func onlyReader(_ n: Node) -> Int? {
            let v = n.outputs[0]
            return readers[v] == 1 ? consumer[v] : nil
        }
        /// A depthwise conv: one input channel per group, more than one group.
        func depthwise(_ d: Node) -> Bool {
            guard isConv(d), !residual(d), clampOnly(d), let dw = weight(d), dw.shape[1] == 1, dw.shape[0] > 1 else { return false }
            return (try? d.int("group", default: 1)) == dw.shape[0]
        }
        /// The project conv reading depthwise conv `d`'s output, if it is its only reader.
        func project(of d: Node) -> Int? {
            guard let pi = onlyReader(d), !removed.contains(pi), pointwise(g.nodes[pi]), g.nodes[pi].inputs[0] == d.outputs[0],
                  weight(g.nodes[pi])!.shape[1] == weight(d)!.shape[0] else { return nil }
            return pi
        }
        var replaced: [Int: Node] = [:]
        var blocks: [[Int]] = []
        for (ei, e) in g.nodes.enumerated() where !removed.contains(ei) && pointwise(e) && !residual(e) {
            guard let di = onlyReader(e), !removed.contains(di) else { continue }
            let d = g.nodes[di]
            guard depthwise(d), d.inputs[0] == e.outputs[0], weight(d)!.shape[0] == weight(e)!.shape[0] else { continue }
            let positions = [ei, di] + (project(of: d).map { [$0] } ?? [])
            for p in positions { removed.insert(p) }
            blocks.append(positions)
        }
        // Blocks without an expand conv (MobileNetV2's first): depthwise -> project.
        for (di, d) in g.nodes.enumerated() where !removed.contains(di) && depthwise(d) {
            guard let pi = project(of: d) else { continue }
            removed.insert(di)
            removed.insert(pi)
            blocks.append([di, pi])
        }
        for positions in blocks {
            let body = positions.map { g.nodes[$0] }
            var inputs: [String] = []
            let inner = Set(body.dropLast().map { $0.outputs[0] })
            for n in body { for v in n.inputs where !v.isEmpty && !inner.contains(v) && !inputs.contains(v) { inputs.append(v) } }
            let last = body.last!
            let fused = Node(name: body.map(\.name).joined(separator: "+"), opType: blockOpType, domain: blockDomain,
                             inputs: inputs, outputs: last.outputs,
                             attributes: [blockBodyKey: .graph(Graph(name: "block", nodes: body)),
                                          blockBandRowsKey: .int(mode.bandRowsAttribute)])
            replaced[positions.last!] = fused
        }
        if replaced.isEmpty { return g }
        var nodes: [Node] = []
        for (i, n) in g.nodes.enumerated() {
            if let f = replaced[i] { nodes.append(f) } else if !removed.contains(i) { nodes.append(n) }
        }
        g.nodes = nodes
        return g
    }
}
