// The general convolution path (any kernel, stride, padding, dilation, groups) without a
// column matrix in memory: the weight is packed once into the micro-kernels' A layout
// (Conv2D.PackedWeight, kept by the engine per node), and the column matrix is unfolded one
// panel of NR output positions at a time straight into the B layout the kernels stream,
// just before all row panels of the weight sweep over it (so it is still in L1/L2).
//
// Work items are (image, group, panel) triples over the whole batch, so a batch of 64 is one
// pool of 64 x panels tasks and both threads stay busy even when each image is small. Deep
// reductions (K > KC) go in k blocks that accumulate into the output tile; bias and clamp
// come with the last block, in the kernel's epilogue.
import CFrugalKernels

extension Conv2D {
    /// The weight [M, C/groups, kH, kW] of a convolution packed for the fp32 micro-kernels:
    /// per group, the Mg x K matrix (K = C/groups * kH * kW) as panels of MR rows, each the
    /// whole K deep (element (i, p) of a panel at p * rows + i). Pack once, reuse every run.
    public final class PackedWeight: @unchecked Sendable {
        /// Output channels (M).
        public let outChannels: Int
        /// Groups of the convolution.
        public let groups: Int
        /// Reduction length of one output: C/groups * kH * kW.
        public let reduction: Int
        let kernel: SGEMMKernel
        private let storage: UnsafeMutablePointer<Float>

        /// Packs `weight` for the convolution `d` (for the kernels of `isa`; best when nil).
        public init(_ d: Conv2DDescriptor, weight: UnsafePointer<Float>, isa: KernelISA? = nil) {
            outChannels = d.outChannels
            groups = max(d.groups, 1)
            reduction = d.groupInChannels * d.kernelHeight * d.kernelWidth
            kernel = SGEMMKernel.select(isa)
            let count = max(1, outChannels * reduction)
            storage = UnsafeMutableRawPointer.allocate(byteCount: count * 4, alignment: 64)
                .bindMemory(to: Float.self, capacity: count)
            let mg = outChannels / groups, k = reduction
            if mg == 0 || k == 0 { return }
            for g in 0..<groups {
                SGEMMPacking.packA(
                    SGEMMOperandA(base: weight + g * mg * k, ld: k, trans: false),
                    i0: 0, rows: mg, p0: 0, kc: k, mr: kernel.mr, into: storage + g * mg * k)
            }
        }

        deinit { storage.deallocate() }

        /// Whether this packing is of a weight shaped for `d`.
        public func fits(_ d: Conv2DDescriptor) -> Bool {
            outChannels == d.outChannels && groups == max(d.groups, 1)
                && reduction == d.groupInChannels * d.kernelHeight * d.kernelWidth
        }

        /// Bytes of packed data.
        public var byteCount: Int { max(1, outChannels * reduction) * 4 }

        /// The packed rows of group `g`.
        @inline(__always)
        func group(_ g: Int) -> UnsafePointer<Float> { UnsafePointer(storage + g * (outChannels / groups) * reduction) }
    }
}

/// The panel-wise general convolution driver.
enum ConvPanels {
    /// Below this many multiply-adds a convolution runs on the calling thread only.
    static let parallelThreshold = 1 << 16

    /// Convolves as ``Conv2D/forward(_:input:weight:bias:output:clamp:workspace:workspaceCount:packedWeight:pool:)``
    /// with the weight already packed (`packed.fits(d)`); `d` has at least one input channel.
    static func forward(
        _ d: Conv2DDescriptor, input: UnsafePointer<Float>, packed: Conv2D.PackedWeight,
        bias: UnsafePointer<Float>?, output: UnsafeMutablePointer<Float>, clamp: OutputClamp?, pool: ThreadPool?
    ) {
        let kernel = packed.kernel
        let mr = kernel.mr, nr = kernel.nr
        let G = max(d.groups, 1), Cg = d.groupInChannels, Mg = d.groupOutChannels
        let K = Cg * d.kernelHeight * d.kernelWidth
        let HW = d.inHeight * d.inWidth, oHW = d.outHeight * d.outWidth
        let N = d.batch
        if N == 0 || Mg == 0 || oHW == 0 || K == 0 { return }
        let panelsPerImage = (oHW + nr - 1) / nr
        let total = N * G * panelsPerImage
        let kBlocks = (K + kernel.kc - 1) / kernel.kc
        let kcStep = (K + kBlocks - 1) / kBlocks
        let macs = N.multipliedReportingOverflow(by: d.outChannels * K * oHW)
        let big = macs.overflow || macs.partialValue >= parallelThreshold
        let threads = big ? min(64, pool?.threadCount ?? 1) : 1
        // With fewer panels than threads (small outputs, batch 1), the output channels are
        // cut into row blocks too; each block's task unfolds its panel itself.
        let rowPanels = (Mg + mr - 1) / mr
        let rowBlocks = threads > 1 && total < 2 * threads ? min(rowPanels, (2 * threads + total - 1) / total) : 1
        let items = total * rowBlocks
        let tasks = threads == 1 ? 1 : min(items, 4 * threads)

        var base = frugal_sgemm_epilogue(flags: 0, bias: nil, lo: 0, hi: 0, prefetch: 0)
        if let clamp {
            base.flags |= UInt32(FRUGAL_SGEMM_CLAMP)
            base.lo = clamp.lower
            base.hi = clamp.upper
        }
        if bias != nil { base.flags |= UInt32(FRUGAL_SGEMM_BIAS_ROW) }
        let finalFlags = base.flags

        let ws = SGEMMWorkspace.take()
        defer { SGEMMWorkspace.recycle(ws) }
        for s in 0..<min(threads, tasks) { ws.reserve(slot: 1 + s, count: kcStep * nr) }
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
                let a = packed.group(g)
                let j0 = q * nr, w = min(nr, oHW - j0)
                var pc = 0
                while pc < K {
                    let kc = min(kcStep, K - pc)
                    Im2Col.unfoldPanel(d, channels: x, p0: pc, kc: kc, j0: j0, width: w, into: panel, stride: nr)
                    e.flags = pc + kc == K ? finalFlags : 0
                    if pc > 0 { e.flags |= UInt32(FRUGAL_SGEMM_ACCUMULATE) }
                    var i = r0 * mr
                    while i < min(Mg, r1 * mr) {
                        let rows = min(mr, Mg - i)
                        if let bias { e.bias = bias + g * Mg + i }
                        kernel.tile(
                            mr: rows, nr: w, kc: kc, a: a + i * K + pc * rows, b: panel, ldb: nr,
                            c: y + i * oHW + j0, ldc: oHW, epilogue: &e)
                        i += mr
                    }
                    pc += kc
                }
            }
            ws.releaseSlot(slot)
        }
    }
}

extension Conv2DDescriptor {
    /// Whether ``Conv2D/forward(_:input:weight:bias:output:clamp:workspace:workspaceCount:packedWeight:pool:)``
    /// takes a ``Conv2D/PackedWeight`` for this convolution (the general path).
    public var takesPackedWeight: Bool { path == .im2col }
}
