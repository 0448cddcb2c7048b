// The general convolution path (any kernel, stride, padding, dilation, groups) without a
// column matrix in memory: the weight is packed once into the micro-kernels' A layout
// (Conv2D.packWeights: one GEMM.PackedA per group, kept by the engine per node), and the column matrix is unfolded one
// panel of NR output positions at a time straight into the B layout the kernels stream,
// just before all row panels of the weight sweep over it (so it is still in L1/L2).
//
// Work items are (image, group, panel) triples over the whole batch, so a batch of 64 is one
// pool of 64 x panels tasks and both threads stay busy even when each image is small. Deep
// reductions (K > KC) go in k blocks that accumulate into the output tile; bias and clamp
// come with the last block, in the kernel's epilogue.
import CFrugalKernels

/// The panel-wise general convolution driver.
enum ConvPanels {
    /// Below this many multiply-adds a convolution runs on the calling thread only.
    static let parallelThreshold = 1 << 16
    /// Up to this reduction depth, `groupedPanels` panels are unfolded together.
    static let groupedDepth = 64
    static let groupedPanels = 4

    /// Convolves as ``Conv2D/forward(_:input:weight:bias:output:clamp:workspace:workspaceCount:pool:packedWeights:accumulate:)``
    /// with the weight already packed (`Conv2D.weightsFit(packed, d)`); `d` has at least one input channel.
    static func forward(
        _ d: Conv2DDescriptor, input: UnsafePointer<Float>, packed: [GEMM.PackedA],
        bias: UnsafePointer<Float>?, output: UnsafeMutablePointer<Float>, clamp: OutputClamp?, pool: ThreadPool?
    ) {
        let kernel = packed[0].kernel
        let mr = kernel.mr, nr = kernel.nr
        let G = max(d.groups, 1), Cg = d.groupInChannels, Mg = d.groupOutChannels
        let K = Cg * d.kernelHeight * d.kernelWidth
        let HW = d.inHeight * d.inWidth, oHW = d.outHeight * d.outWidth
        let N = d.batch
        if N == 0 || Mg == 0 || oHW == 0 || K == 0 { return }
        // Shallow reductions (the stem's 3 x 3 x 3) unfold 4 panels at a time, row-major with
        // rows of 4 x NR, which the kernels read in place (DIRECT_B): the per-row work of the
        // unfolding is shared by 4 panels.
        let group = K <= groupedDepth ? groupedPanels : 1
        let width = group * nr
        let panelsPerImage = (oHW + width - 1) / width
        let total = N * G * panelsPerImage
        let kBlocks = (K + kernel.kc - 1) / kernel.kc
        let kcStep = (K + kBlocks - 1) / kBlocks
        let macs = N.multipliedReportingOverflow(by: d.outChannels * K * oHW)
        let big = macs.overflow || macs.partialValue >= parallelThreshold
        let threads = big ? min(64, pool?.threadCount ?? 1) : 1
        // With fewer panels than threads (small outputs, batch 1), or too few to share out
        // evenly, the output channels are cut into row blocks too; each block's task unfolds
        // its panel itself (so a panel per thread is better left whole: LeNet-5's 2 panels).
        let rowPanels = (Mg + mr - 1) / mr
        let fewPanels = total < threads || (total < 2 * threads && total % threads != 0)
        let rowBlocks = threads > 1 && fewPanels ? min(rowPanels, (2 * threads + total - 1) / total) : 1
        let items = total * rowBlocks
        let tasks = threads == 1 ? 1 : min(items, 4 * threads)

        var base = SGEMMDriver.clampEpilogue(clamp.map { $0.lower...$0.upper })
        if bias != nil { base.flags |= UInt32(FRUGAL_SGEMM_BIAS_ROW) }
        let finalFlags = base.flags

        let ws = SGEMMWorkspace.take()
        defer { SGEMMWorkspace.recycle(ws) }
        for s in 0..<min(threads, tasks) { ws.reserve(slot: 1 + s, count: kcStep * width) }
        SGEMMDriver.parallel(tasks, threads > 1 ? pool : nil) { t in
            let (lo, hi) = SGEMMDriver.split(items, tasks, t)
            let slot = ws.acquireSlot()
            let panel = ws.buffer(1 + slot)
            var e = base
            for it in lo..<hi {
                let item = it / rowBlocks, rb = it % rowBlocks
                let (r0, r1) = SGEMMDriver.split(rowPanels, rowBlocks, rb)
                let q = item % panelsPerImage, ng = item / panelsPerImage
                let n = ng / G, g = ng % G
                let x = input + (n * d.inChannels + g * Cg) * HW
                let y = output + (n * d.outChannels + g * Mg) * oHW
                let a = packed[g].panel(row: 0, depth: 0)
                let j0 = q * width, w = min(width, oHW - j0)
                var pc = 0
                while pc < K {
                    let kc = min(kcStep, K - pc)
                    Im2Col.unfoldPanel(d, channels: x, p0: pc, kc: kc, j0: j0, width: w, into: panel, stride: width)
                    e.flags = pc + kc == K ? finalFlags : 0
                    if pc > 0 { e.flags |= UInt32(FRUGAL_SGEMM_ACCUMULATE) }
                    if group > 1 { e.flags |= UInt32(FRUGAL_SGEMM_DIRECT_B) }
                    var jr = 0
                    while jr < w {
                        let wr = min(nr, w - jr)
                        var i = r0 * mr
                        while i < min(Mg, r1 * mr) {
                            let rows = min(mr, Mg - i)
                            if let bias { e.bias = bias + g * Mg + i }
                            kernel.tile(
                                mr: rows, nr: wr, kc: kc, a: a + i * K + pc * rows, b: panel + jr, ldb: width,
                                c: y + i * oHW + j0 + jr, ldc: oHW, epilogue: &e)
                            i += mr
                        }
                        jr += nr
                    }
                    pc += kc
                }
            }
            ws.releaseSlot(slot)
        }
    }
}

extension Conv2DDescriptor {
    /// Whether ``Conv2D/forward(_:input:weight:bias:output:clamp:workspace:workspaceCount:pool:packedWeights:accumulate:)``
    /// takes weights packed by ``Conv2D/packWeights(_:weight:pool:)`` for this convolution
    /// (the pointwise and general paths; depthwise reads the weights directly).
    public var takesPackedWeights: Bool { path != .depthwise }
}
