import FrugalCore

/// ai.frugal.ConvBlock: an inverted-residual block fused by the planner
/// (Fusions.fuseConvBlocks): [expand 1x1 Conv ->] depthwise Conv [-> project 1x1 Conv] (at
/// least two of them), the original nodes kept in its `frugal.body` attribute. When the
/// shapes fit the fused kernels, the auto mode runs it in bands (FrugalCore's
/// ConvBlockBands.swift) where the expanded map is large, else at batch 1 as one parallel
/// region split by expanded channels (ConvBlockChannels.swift); otherwise it runs the
/// original Conv nodes one after the other, so it computes what they compute for any input,
/// errors included.
///
/// Measured, MobileNetV2 batch 1, side by side with main (4 alternating pairs, per-node
/// medians): 2 threads, the 28x28/14x14/7x7 blocks 5-20 % faster and features.1 (no expand
/// conv, now in bands) 0.191 -> 0.139 ms, median 3.63 -> 3.32 ms; 1 thread unchanged
/// within noise; batch 8 features.1 20-25 % faster, the rest unchanged.
enum ConvBlockOperator {
    static let schemas: [OperatorSchema] = [
        OperatorSchema(Fusions.blockOpType, domain: Fusions.blockDomain, since: 1, dtypes: [.float32]) { try run($0) }
    ]

    /// The body's Conv nodes.
    static func body(_ node: Node) throws -> [Node] {
        guard case .graph(let g)? = node.attributes[Fusions.blockBodyKey], (2...3).contains(g.nodes.count),
              g.nodes.allSatisfy({ $0.opType == "Conv" && $0.domain.isEmpty && !$0.inputs.isEmpty && $0.outputs.count == 1 })
        else {
            throw node.fail("attribute \(Fusions.blockBodyKey) must hold the block's 2 or 3 Conv nodes; this node is made by Frugal's planner, not read from a model")
        }
        return g.nodes
    }

    /// The body parsed once per step: each Conv's site and kept state, and where each of
    /// its inputs comes from, so that running the body as separate convolutions (most
    /// blocks in auto mode) builds no dictionary, key or Node copy per run.
    final class Body {
        enum Source { case none, input(Int), output(Int) }
        let sites: [NodeSite]
        let states: [NodeState]
        let sources: [[Source]]
        var nodes: [Node] { sites.map(\.node) }

        init(_ fused: Node) throws {
            let nodes = try ConvBlockOperator.body(fused)
            sites = nodes.map(NodeSite.init)
            states = nodes.map { _ in NodeState() }
            sources = nodes.map { n in
                n.inputs.map { name in
                    if name.isEmpty { return .none }
                    if let j = nodes.firstIndex(where: { $0.outputs[0] == name }) { return .output(j) }
                    return fused.inputs.firstIndex(of: name).map { .input($0) } ?? .none
                }
            }
        }
    }

    /// Holds the step's ``Body`` (made on the first run).
    final class BodyBox { var body: Body? }

    /// What a run derives from the input shape: the band plan, or nil to run the body.
    final class Memo {
        let xShape: Shape
        let plan: Plan?
        init(xShape: Shape, plan: Plan?) { self.xShape = xShape; self.plan = plan }
    }

    struct Plan {
        let block: ConvBlockDescriptor
        let bandRows: Int
        /// Channel slices per image when the block runs as one region split by expanded
        /// channels (ConvBlockChannels.swift), else 0 (bands).
        let slices: Int
        /// By role (expand, depthwise, project): each conv's fused clamp, and the input
        /// indices (of the fused node) of its W and B (nil: no such conv, or no bias).
        let clamps: [OutputClamp?]
        let weights: [Int?]
        let biases: [Int?]
        let residual: Int?
    }

    /// The body's weights packed for the band GEMMs, kept while the weights are the same tensors.
    final class PackedWeights {
        var sources: [Tensor] = []
        var expand: GEMM.PackedA? = nil
        var project: GEMM.PackedA? = nil
        var slices: ConvBlockSlices? = nil
    }

    static func run(_ call: OpCall) throws -> [Tensor] {
        let box = call.cachedObject("body") { BodyBox() }
        let body = try box.body ?? Body(call.node)
        box.body = body
        let x = try call.floatInput(0, "X")
        let memo: Memo
        if let m = call.state?.memo as? Memo, m.xShape == x.shape { memo = m } else {
            memo = Memo(xShape: x.shape, plan: try plan(call, body.nodes, x: x))
            call.state?.memo = memo
        }
        guard let plan = memo.plan else { return try runBody(call, body) }
        var residual: Tensor? = nil
        if let r = plan.residual {
            guard let t = call.optionalInput(r), t.dtype == .float32, t.shape == plan.block.outputShape else {
                return try runBody(call, body)  // broadcasting residuals: as the Conv does it
            }
            residual = t
        }
        let w = plan.weights.map { $0.map { call.optionalInput($0)! } }
        let b = plan.biases.map { $0.flatMap { call.optionalInput($0) } }
        let packed = call.cachedObject("blockPacked") { PackedWeights() }
        let sources = [w[0], w[2]].compactMap { $0 }
        let pool = call.context.pool
        let sameSources = packed.sources.count == sources.count
            && zip(packed.sources, sources).allSatisfy { $0.sharesStorage(with: $1) }
        if plan.slices > 0 {
            if !sameSources || packed.slices?.fits(plan.block, slices: plan.slices) != true {
                packed.slices = ConvBlockSlices(plan.block, expandWeight: w[0]?.floatPointer,
                                                projectWeight: w[2]?.floatPointer, slices: plan.slices)
                packed.expand = nil
                packed.project = nil
                packed.sources = sources
            }
        } else if !sameSources || packed.expand?.m != plan.block.expand?.outChannels || packed.expand?.k != plan.block.expand?.inChannels
            || packed.expand?.layout != plan.block.expand.map({ _ in plan.block.expandLayout })
            || packed.project?.layout != plan.block.project.map({ _ in plan.block.projectLayout }) {
            packed.expand = plan.block.expand.map { e in
                GEMM.PackedA(m: e.outChannels, k: e.inChannels, a: w[0]!.floatPointer, lda: e.inChannels,
                             layout: plan.block.expandLayout, pool: pool)
            }
            packed.project = plan.block.project.map { p in
                GEMM.PackedA(m: p.outChannels, k: p.inChannels, a: w[2]!.floatPointer, lda: p.inChannels,
                             layout: plan.block.projectLayout, pool: pool)
            }
            packed.sources = sources
            packed.slices = nil
        }
        var y = try call.newUninitializedOutput(plan.block.outputShape.dims)
        let weights = ConvBlockWeights(
            expand: packed.expand, expandBias: b[0]?.floatPointer, expandClamp: plan.clamps[0],
            depthwise: w[1]!.floatPointer, depthwiseBias: b[1]?.floatPointer, depthwiseClamp: plan.clamps[1],
            project: packed.project, projectBias: b[2]?.floatPointer,
            projectClamp: plan.clamps[2], residual: residual?.floatPointer)
        if let slices = packed.slices, plan.slices > 0 {
            // The workspace is a recycled buffer of at least 4 MiB (a power of two), so that
            // the blocks of a model share one whose lines the previous block left warm: one
            // kept per node is a cold MB per block (measured, 1 thread: 28x28 and 14x14 blocks
            // 15-45 % slower than the separate convolutions, whose intermediates come warm
            // from the buffer pool); sizes rounded to powers of two still left the one block
            // of its size class 35 % slower. Pages never touched cost nothing.
            let count = max(1 << 20, plan.block.channelWorkspaceCount(slices: plan.slices))
            var ws: Tensor? = try call.context.buffers.uninitializedTensor([1 << (Int.bitWidth - (count - 1).leadingZeroBitCount)])
            ConvBlock.forwardByChannels(plan.block, weights, slices: slices, input: x.floatPointer,
                                        output: y.mutableFloatPointer(), workspace: ws!.mutableFloatPointer(), pool: pool)
            call.context.buffers.recycle(&ws)
            return [y]
        }
        let ws = call.scratch("bands").floats(plan.block.workspaceCount(bandRows: plan.bandRows, threads: pool.threadCount))
        ConvBlock.forward(plan.block, weights, input: x.floatPointer, output: y.mutableFloatPointer(),
                          bandRows: plan.bandRows, workspace: ws, pool: pool)
        return [y]
    }

    /// The band plan for input `x`, or nil when the body must run as separate convolutions
    /// (shapes or attributes the band kernel does not take, or bands that do not pay).
    static func plan(_ call: OpCall, _ nodes: [Node], x: Tensor) throws -> Plan? {
        guard x.rank == 4 else { return nil }
        func index(_ name: String) -> Int? { name.isEmpty ? nil : call.node.inputs.firstIndex(of: name) }
        var dims = x.shape.dims
        var descriptors: [Conv2DDescriptor] = [], clamps: [OutputClamp?] = [], weights: [Int] = [], biases: [Int?] = []
        for n in nodes {
            guard n.inputs.count >= 2, let wi = index(n.inputs[1]), let w = call.optionalInput(wi),
                  w.dtype == .float32, w.rank == 4,
                  let group = try? n.int("group", default: 1), group >= 1, dims[1] % group == 0,
                  w.shape[1] * group == dims[1], w.shape[0] % group == 0,
                  let a = try? SpatialAttributes(n, spatial: [dims[2], dims[3]], kernel: [w.shape[2], w.shape[3]]),
                  let act = try? Optional(FusedActivation(fusedIn: n)), act == nil || act!.clampRange != nil
            else { return nil }
            var bi: Int? = nil
            if n.inputs.count > 2, !n.inputs[2].isEmpty {
                guard let i = index(n.inputs[2]), let bt = call.optionalInput(i), bt.dtype == .float32,
                      bt.rank == 1, bt.shape[0] == w.shape[0] else { return nil }
                bi = i
            }
            let d = Conv2DDescriptor(
                batch: dims[0], inChannels: dims[1], inHeight: dims[2], inWidth: dims[3],
                outChannels: w.shape[0], kernelHeight: w.shape[2], kernelWidth: w.shape[3],
                strides: (a.strides[0], a.strides[1]), dilations: (a.dilations[0], a.dilations[1]),
                pads: (a.padsBegin[0], a.padsBegin[1], a.padsEnd[0], a.padsEnd[1]), groups: group)
            guard (try? d.validate()) != nil else { return nil }
            descriptors.append(d)
            clamps.append(act?.clampRange.map { OutputClamp(lower: $0.lowerBound, upper: $0.upperBound) })
            weights.append(wi)
            biases.append(bi)
            dims = d.outputShape.dims
        }
        // Roles: [expand, depthwise, project], or [depthwise, project] (no expand conv), or
        // [expand, depthwise] (no project conv).
        let roles: [Int?] = descriptors.count == 3 ? [0, 1, 2]
            : descriptors[0].groups > 1 ? [nil, 0, 1] : [0, 1, nil]
        let block = ConvBlockDescriptor(expand: roles[0].map { descriptors[$0] }, depthwise: descriptors[roles[1]!],
                                        project: roles[2].map { descriptors[$0] })
        guard block.isSupported else { return nil }
        var residual: Int? = nil
        if let pi = roles[2], try nodes[pi].int(Fusions.residualKey, default: 0) == 1 {
            guard nodes[pi].inputs.count > 3, let r = index(nodes[pi].inputs[3]) else { return nil }
            residual = r
        }
        let byRole = (clamps: roles.map { $0.flatMap { clamps[$0] } }, weights: roles.map { $0.map { weights[$0] } },
                      biases: roles.map { $0.flatMap { biases[$0] } })
        let mode = try call.node.int(Fusions.blockBandRowsKey, default: -1)
        let threads = call.context.pool.threadCount
        var slices = 0
        if mode == ConvBlockFusion.channelsAttribute || mode == -1 && block.channelSplitPays {
            slices = max(1, threads)
        } else if mode < 0 && !block.bandsPay {
            return nil
        }
        return Plan(block: block, bandRows: mode > 0 ? mode : block.defaultBandRows, slices: slices, clamps: byRole.clamps,
                    weights: byRole.weights, biases: byRole.biases, residual: residual)
    }

    /// Runs the body's Conv nodes one after the other (each with its own kept state); an
    /// intermediate goes back to the buffer pool once the next Conv has read it.
    static func runBody(_ call: OpCall, _ body: Body) throws -> [Tensor] {
        var outputs = [Tensor?](repeating: nil, count: body.sites.count)
        for i in body.sites.indices {
            do {
                let args = body.sources[i].map { source -> Tensor? in
                    switch source {
                    case .none: return nil
                    case .input(let k): return call.optionalInput(k)
                    case .output(let j): return outputs[j]
                    }
                }
                outputs[i] = try ConvOperators.conv(OpCall(site: body.sites[i], inputs: args, context: call.context,
                                                           state: body.states[i]))[0]
            }
            if i > 0, case .output(let j) = body.sources[i][0] { call.context.buffers.recycle(&outputs[j]) }
        }
        return [outputs[body.sites.count - 1]!]
    }
}
