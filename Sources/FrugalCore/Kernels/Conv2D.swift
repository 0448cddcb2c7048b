// 2-D convolution, NCHW float32, ONNX Conv semantics (explicit pads, strides, dilations,
// groups), with an optional per-output-channel bias and a fused output clamp.
//
// Four paths, chosen from the descriptor alone:
//  - pointwise: 1x1 kernel, stride 1, no padding -> one GEMM per (image, group):
//      Y[g] (Mg x HW) = W[g] (Mg x Cg) . X[n, g] (Cg x HW)
//  - depthwise: one input channel per group (Cg == 1, groups > 1) -> direct kernel
//    (DepthwiseConv.swift)
//  - direct: groups 1 with at most 4 input channels (a network's first convolution) on
//    AVX-512 -> output positions in the vector lanes, no column matrix (Conv2DDirect.swift)
//  - general: the weight packed once (Conv2D.packWeights) and the column matrix unfolded
//    panel by panel straight into the micro-kernels' layout (Conv2DPanels.swift).
// Bias and clamp are applied in the GEMM kernels' epilogue, while each tile is in cache.

/// Shape and attributes of one 2-D convolution (ONNX Conv semantics, NCHW float32).
public struct Conv2DDescriptor: Sendable, Equatable {
    public var batch: Int
    public var inChannels: Int
    public var inHeight: Int
    public var inWidth: Int
    public var outChannels: Int
    public var kernelHeight: Int
    public var kernelWidth: Int
    public var strideHeight: Int
    public var strideWidth: Int
    public var dilationHeight: Int
    public var dilationWidth: Int
    public var padTop: Int
    public var padLeft: Int
    public var padBottom: Int
    public var padRight: Int
    public var groups: Int

    /// A convolution of an [N, C, H, W] input with an [M, C/groups, kH, kW] weight.
    /// `pads` are ONNX-ordered: top, left, bottom, right.
    public init(
        batch: Int, inChannels: Int, inHeight: Int, inWidth: Int,
        outChannels: Int, kernelHeight: Int, kernelWidth: Int,
        strides: (Int, Int) = (1, 1), dilations: (Int, Int) = (1, 1),
        pads: (top: Int, left: Int, bottom: Int, right: Int) = (0, 0, 0, 0), groups: Int = 1
    ) {
        self.batch = batch
        self.inChannels = inChannels
        self.inHeight = inHeight
        self.inWidth = inWidth
        self.outChannels = outChannels
        self.kernelHeight = kernelHeight
        self.kernelWidth = kernelWidth
        (strideHeight, strideWidth) = strides
        (dilationHeight, dilationWidth) = dilations
        (padTop, padLeft, padBottom, padRight) = pads
        self.groups = groups
    }

    /// Input channels per group.
    public var groupInChannels: Int { inChannels / max(groups, 1) }
    /// Output channels per group.
    public var groupOutChannels: Int { outChannels / max(groups, 1) }
    /// Output height; 0 when the input height is 0.
    public var outHeight: Int {
        inHeight == 0 ? 0 : (inHeight + padTop + padBottom - (kernelHeight - 1) * dilationHeight - 1) / strideHeight + 1
    }
    /// Output width; 0 when the input width is 0.
    public var outWidth: Int {
        inWidth == 0 ? 0 : (inWidth + padLeft + padRight - (kernelWidth - 1) * dilationWidth - 1) / strideWidth + 1
    }
    /// The output shape [N, M, outHeight, outWidth].
    public var outputShape: Shape { [batch, outChannels, outHeight, outWidth] }

    /// Throws a ``CoreError`` naming the problem unless every attribute is usable.
    public func validate() throws {
        var desc: String { "Conv input [\(batch), \(inChannels), \(inHeight), \(inWidth)], weight [\(outChannels), \(groupInChannels), \(kernelHeight), \(kernelWidth)]" }
        guard batch >= 0, inChannels >= 0, inHeight >= 0, inWidth >= 0, outChannels >= 0 else {
            throw CoreError.invalidShape("\(desc): dimensions must not be negative")
        }
        guard kernelHeight >= 1, kernelWidth >= 1 else {
            throw CoreError.invalidShape("\(desc): kernel dimensions must be at least 1")
        }
        guard strideHeight >= 1, strideWidth >= 1 else {
            throw CoreError.invalidArgument("\(desc): strides (\(strideHeight), \(strideWidth)) must be at least 1")
        }
        guard dilationHeight >= 1, dilationWidth >= 1 else {
            throw CoreError.invalidArgument("\(desc): dilations (\(dilationHeight), \(dilationWidth)) must be at least 1")
        }
        guard padTop >= 0, padLeft >= 0, padBottom >= 0, padRight >= 0 else {
            throw CoreError.invalidArgument("\(desc): pads (\(padTop), \(padLeft), \(padBottom), \(padRight)) must not be negative")
        }
        guard groups >= 1, inChannels % groups == 0, outChannels % groups == 0 else {
            throw CoreError.invalidArgument(
                "\(desc): groups \(groups) must be at least 1 and divide both the input channels (\(inChannels)) and the output channels (\(outChannels))")
        }
        let effH = (kernelHeight - 1) * dilationHeight + 1, effW = (kernelWidth - 1) * dilationWidth + 1
        if inHeight > 0 && inHeight + padTop + padBottom < effH || inWidth > 0 && inWidth + padLeft + padRight < effW {
            throw CoreError.invalidShape(
                "\(desc): the dilated kernel (\(effH) x \(effW)) is larger than the padded input (\(inHeight + padTop + padBottom) x \(inWidth + padLeft + padRight)); use a smaller kernel or more padding")
        }
        // (Overflow-checked products without building Shapes: this runs on every inference.)
        func countFits(_ a: Int, _ b: Int, _ c: Int, _ d: Int) -> Bool {
            let ab = a.multipliedReportingOverflow(by: b), cd = c.multipliedReportingOverflow(by: d)
            return !ab.overflow && !cd.overflow && !ab.partialValue.multipliedReportingOverflow(by: cd.partialValue).overflow
        }
        for (what, fits) in [("input", countFits(batch, inChannels, inHeight, inWidth)),
                             ("output", countFits(batch, outChannels, outHeight, outWidth)),
                             ("weight", countFits(outChannels, groupInChannels, kernelHeight, kernelWidth))] where !fits {
            throw CoreError.tooLarge("\(desc): the \(what) has more elements than a 64-bit count can hold")
        }
    }

    enum Path { case pointwise, depthwise, direct, im2col }

    var path: Path {
        // (One input channel and no groups is a plain convolution with K = kH * kW.)
        if groupInChannels == 1 && groups > 1 { return .depthwise }
        if kernelHeight == 1, kernelWidth == 1, strideHeight == 1, strideWidth == 1,
            padTop == 0, padLeft == 0, padBottom == 0, padRight == 0 { return .pointwise }
        return ConvDirect.handles(self) ? .direct : .im2col
    }

    /// Whether the (image, group) jobs run in parallel, each with a serial GEMM and its own
    /// workspace slot, rather than one after another with the GEMM threaded.
    /// Also for batches of one group: whole images per thread, each GEMM serial, instead of
    /// splitting every image's GEMM over the threads (a barrier per GEMM block). Measured
    /// together with the residual fold (Fusions.fuseResidualAdds) on MobileNetV2 batch 8,
    /// 2 threads, on a loaded machine: 335-371 ms -> 276-280 ms median.
    /// Output positions up to which a pointwise convolution puts the output channels in the
    /// vector lanes (weights packed in column panels, GEMMDriverLanes.swift) rather than the
    /// positions: on 7x7 maps 49 positions fill 77 % of 4 x 16 lanes.
    static let channelLanesSmallMap = 64
    /// Up to this many positions, also when the reduction is at least `channelLanesMinDepth`
    /// deep: reading the input in place instead of packing it measured faster there
    /// (MobileNetV2 profiles, 1 thread: 14x14 and 28x28 projections 10-25 %), but slower
    /// for the short expands (32 -> 192 on 28x28: +30 %).
    static let channelLanesMaxPositions = 1024
    static let channelLanesMinDepth = 64

    /// The layout ``Conv2D/packWeights(_:weight:pool:)`` packs this convolution's weights in:
    /// column panels (output channels in the lanes) for pointwise convolutions on small maps
    /// with AVX-512, else row panels.
    public var weightLayout: GEMM.PackedA.Layout {
        let isa = KernelISA.best
        guard path == .pointwise, isa == .avx512 || isa == .avx512Vnni else { return .rowPanels }
        let positions = outHeight * outWidth, deep = groupInChannels >= Self.channelLanesMinDepth
        // (Larger maps: row panels; with 1-2 of them, e.g. 144 -> 24 on 56x56, the GEMM reads
        // the input in place, SGEMMDriver.directRowPanels, which measured faster still.)
        return positions <= Self.channelLanesSmallMap || deep && positions <= Self.channelLanesMaxPositions
            ? .columnPanels : .rowPanels
    }

    func parallelOverGroups(threads: Int) -> Bool { threads > 1 && batch * groups >= threads && (groups > 1 || batch > 1) }
}

/// 2-D convolution kernels.
public enum Conv2D {
    /// Floats of workspace ``forward(_:input:weight:bias:output:clamp:workspace:workspaceCount:pool:)``
    /// needs for `descriptor` on a pool of `threadCount` threads (0 if none).
    public static func workspaceCount(_ d: Conv2DDescriptor, threadCount: Int) -> Int {
        switch d.path {
        case .pointwise: return 0
        case .depthwise: return DepthwiseConv.workspaceCount(d, threadCount: threadCount)
        case .direct, .im2col: return 0  // buffers live in the GEMM's recycled workspaces
        }
    }

    /// Convolves `input` [N,C,H,W] with `weight` [M,C/groups,kH,kW] (+ `bias` [M], then
    /// `clamp`) into `output` [N,M,oH,oW]. `descriptor` must have passed `validate()`.
    /// With `accumulate` (GEMM-based convolutions only, see ``usesGEMM(_:)``) the result is
    /// added to what `output` holds before the bias and clamp (a fused residual).
    /// Uses `workspace` when it holds at least ``workspaceCount(_:threadCount:)`` floats,
    /// else allocates that once for this call. `output` must not overlap the inputs.
    /// `packedWeights` (``packWeights(_:weight:pool:)`` of this `weight`, made once and kept by
    /// the caller) saves repacking the weight of a pointwise or general convolution on every
    /// call; a packing that does not fit `d` (``weightsFit(_:_:)``) is ignored.
    public static func forward(
        _ d: Conv2DDescriptor,
        input: UnsafePointer<Float>, weight: UnsafePointer<Float>, bias: UnsafePointer<Float>?,
        output: UnsafeMutablePointer<Float>, clamp: OutputClamp? = nil,
        workspace: UnsafeMutablePointer<Float>? = nil, workspaceCount: Int = 0,
        pool: ThreadPool? = nil, packedWeights: [GEMM.PackedA]? = nil, accumulate: Bool = false
    ) {
        precondition(!accumulate || usesGEMM(d), "Conv2D.forward: accumulate needs a GEMM-based convolution (usesGEMM)")
        let oHW = d.outHeight * d.outWidth
        if d.batch == 0 || d.outChannels == 0 || oHW == 0 { return }
        let threads = pool?.threadCount ?? 1
        // (No path needs a workspace any more: workspaceCount is 0 everywhere, so `workspace`
        // is accepted and unused.)

        if d.groupInChannels == 0 {  // no input channels: the output is the bias
            for n in 0..<d.batch {
                for m in 0..<d.outChannels {
                    let row = output + (n * d.outChannels + m) * oHW
                    row.initialize(repeating: bias?[m] ?? 0, count: oHW)
                    if let c = clamp { KernelSupport.clamp(row, oHW, c) }
                }
            }
            return
        }
        if d.path == .depthwise {
            DepthwiseConv.forward(d, input: input, weight: weight, bias: bias, output: output,
                                  clamp: clamp, pool: pool)
            return
        }
        let path = d.path
        if path == .direct, ConvDirect.forward(d, input: input, weight: weight, bias: bias, output: output, clamp: clamp, pool: pool) {
            return
        }
        if path == .direct || path == .im2col {
            let packed = packedWeights.flatMap { weightsFit($0, d) ? $0 : nil } ?? packWeights(d, weight: weight)!
            ConvPanels.forward(d, input: input, packed: packed, bias: bias, output: output, clamp: clamp, pool: pool)
            return
        }
        let Cg = d.groupInChannels, Mg = d.groupOutChannels
        let K = Cg * d.kernelHeight * d.kernelWidth
        let HW = d.inHeight * d.inWidth

        // One pointwise (image, group) job: a GEMM with bias + clamp on its rows.
        func job(_ ng: Int, slot: Int, inner: ThreadPool?, gemmPool: ThreadPool) {
            let n = ng / d.groups, g = ng % d.groups
            let x = input + (n * d.inChannels + g * Cg) * HW
            let y = output + (n * d.outChannels + g * Mg) * oHW
            let b = x, ldb = HW
            // Bias and clamp in the GEMM's epilogue, while each tile is in cache.
            let gBias: GEMMBias = bias.map { .perRow($0 + g * Mg) } ?? .none
            if let pw = packedWeights, weightsFit(pw, d) {
                GEMM.sgemm(a: pw[g], n: oHW, b: b, ldb: ldb, c: y, ldc: oHW, accumulate: accumulate, bias: gBias,
                           clamp: clamp.map { $0.lower...$0.upper }, pool: gemmPool)
            } else {
                GEMM.sgemm(m: Mg, n: oHW, k: K, a: weight + g * Mg * K, lda: K, b: b, ldb: ldb,
                           c: y, ldc: oHW, accumulate: accumulate, bias: gBias, clamp: clamp.map { $0.lower...$0.upper },
                           pool: gemmPool)
            }
        }

        if d.parallelOverGroups(threads: threads) {
            let slots = min(threads, d.batch * d.groups)
            KernelSupport.forSlots(d.batch * d.groups, slots: slots, pool: pool) { slot, range in
                for ng in range { job(ng, slot: slot, inner: nil, gemmPool: KernelSupport.serialPool) }
            }
        } else {
            for ng in 0..<(d.batch * d.groups) {
                job(ng, slot: 0, inner: pool, gemmPool: pool ?? KernelSupport.serialPool)
            }
        }
    }

    /// Whether `d` runs as plain GEMMs with the weights as the left operand (the pointwise
    /// path), the one that takes `accumulate`. The general path (Conv2DPanels.swift) takes
    /// packed weights too but not `accumulate`; depthwise reads the weights directly.
    public static func usesGEMM(_ d: Conv2DDescriptor) -> Bool { d.path == .pointwise && d.groupInChannels > 0 }

    /// Whether `packed` (from ``packWeights(_:weight:pool:)``) holds a weight shaped for `d`:
    /// one Mg × K matrix per group.
    public static func weightsFit(_ packed: [GEMM.PackedA], _ d: Conv2DDescriptor) -> Bool {
        let K = d.groupInChannels * d.kernelHeight * d.kernelWidth, layout = d.weightLayout
        return packed.count == max(d.groups, 1)
            && packed.allSatisfy { $0.m == d.groupOutChannels && $0.k == K && $0.layout == layout }
    }

    /// The weights [M, C/groups, kH, kW] of a pointwise or general convolution packed once per
    /// group for the micro-kernels (pass to `forward` on every run: unpacked, each call packs
    /// them again). nil for depthwise convolutions, which read the weights directly.
    /// Measured (perf, MobileNetV2 batch 1, 1 thread): packing the weights on every call was
    /// about a third of the GEMM driver's ~11% outside the micro-kernel; at batch 8 it is
    /// repeated per image.
    public static func packWeights(_ d: Conv2DDescriptor, weight: UnsafePointer<Float>, pool: ThreadPool? = nil) -> [GEMM.PackedA]? {
        guard d.takesPackedWeights, d.groupInChannels > 0 else { return nil }
        let Mg = d.groupOutChannels, K = d.groupInChannels * d.kernelHeight * d.kernelWidth
        let layout = d.weightLayout
        return (0..<d.groups).map { g in
            GEMM.PackedA(m: Mg, k: K, a: weight + g * Mg * K, lda: max(K, 1), layout: layout, pool: pool)
        }
    }

    /// Adds `bias[r]` to row `r` of a `rows` x `rowLength` block and clamps it.
    static func applyBiasAndClamp(
        _ y: UnsafeMutablePointer<Float>, rows: Int, rowLength: Int,
        bias: UnsafePointer<Float>?, clamp: OutputClamp?, pool: ThreadPool?
    ) {
        if bias == nil && clamp == nil { return }
        KernelSupport.forRanges(rows, costPerItem: rowLength / 4 + 1, pool: pool) { range in
            for r in range {
                let row = y + r * rowLength
                if let b = bias?[r] {
                    if let c = clamp {
                        let lo = c.lower, hi = c.upper
                        for i in 0..<rowLength {
                            var v = row[i] + b
                            v = v < lo ? lo : v
                            row[i] = v > hi ? hi : v
                        }
                    } else {
                        for i in 0..<rowLength { row[i] += b }
                    }
                } else if let c = clamp {
                    KernelSupport.clamp(row, rowLength, c)
                }
            }
        }
    }

    /// Convolution of `input` [N,C,H,W] with `weight` [M,C/groups,kH,kW] and optional
    /// `bias` [M], ONNX Conv semantics; `pads` are [top, left, bottom, right].
    public static func conv2d(
        _ input: Tensor, weight: Tensor, bias: Tensor? = nil,
        strides: [Int] = [1, 1], dilations: [Int] = [1, 1], pads: [Int] = [0, 0, 0, 0],
        groups: Int = 1, clamp: OutputClamp? = nil, pool: ThreadPool? = nil
    ) throws -> Tensor {
        let op = "Conv"
        try KernelSupport.requireFloat32(input, op: op, name: "input")
        try KernelSupport.requireFloat32(weight, op: op, name: "weight")
        try KernelSupport.requireRank(input, 4, op: op, name: "input", layout: "N, C, H, W")
        try KernelSupport.requireRank(weight, 4, op: op, name: "weight", layout: "M, C/groups, kH, kW")
        guard strides.count == 2, dilations.count == 2, pads.count == 4 else {
            throw CoreError.invalidArgument(
                "\(op): expected 2 strides, 2 dilations and 4 pads (top, left, bottom, right), got \(strides), \(dilations), \(pads)")
        }
        let x = input.shape.dims, w = weight.shape.dims
        guard groups >= 1, x[1] % groups == 0, w[0] % groups == 0 else {
            throw CoreError.invalidArgument(
                "\(op): groups \(groups) must be at least 1 and divide the input channels (\(x[1]), input \(input.shape)) and the output channels (\(w[0]), weight \(weight.shape))")
        }
        guard w[1] * groups == x[1] else {
            throw CoreError.shapeMismatch(
                "\(op): input \(input.shape) has \(x[1]) channels but weight \(weight.shape) with groups \(groups) expects \(w[1] * groups); the weight's dimension 1 must be C/groups")
        }
        if let b = bias {
            try KernelSupport.requireFloat32(b, op: op, name: "bias")
            guard b.rank == 1, b.shape[0] == w[0] else {
                throw CoreError.shapeMismatch("\(op): bias has shape \(b.shape) but must be [\(w[0])], one value per output channel of weight \(weight.shape)")
            }
        }
        let d = Conv2DDescriptor(
            batch: x[0], inChannels: x[1], inHeight: x[2], inWidth: x[3],
            outChannels: w[0], kernelHeight: w[2], kernelWidth: w[3],
            strides: (strides[0], strides[1]), dilations: (dilations[0], dilations[1]),
            pads: (pads[0], pads[1], pads[2], pads[3]), groups: groups)
        try d.validate()
        var out = try Tensor(zeros: d.outputShape)
        let ws = Conv2D.workspaceCount(d, threadCount: pool?.threadCount ?? 1)
        _ = try MemoryLimit.checkedByteCount(elements: ws, dtype: .float32, what: "the \(op) workspace")
        input.withUnsafeBufferPointer(as: Float.self) { xp in
            weight.withUnsafeBufferPointer(as: Float.self) { wp in
                out.withUnsafeMutableBufferPointer(as: Float.self) { yp in
                    guard let y = yp.baseAddress, let xb = xp.baseAddress, let wb = wp.baseAddress else { return }
                    if let b = bias {
                        b.withUnsafeBufferPointer(as: Float.self) { bp in
                            forward(d, input: xb, weight: wb, bias: bp.baseAddress, output: y, clamp: clamp, pool: pool)
                        }
                    } else {
                        forward(d, input: xb, weight: wb, bias: nil, output: y, clamp: clamp, pool: pool)
                    }
                }
            }
        }
        return out
    }
}
