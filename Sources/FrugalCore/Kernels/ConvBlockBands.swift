// An inverted-residual block (MobileNetV2, MobileNetV3, EfficientNet):
//   [expand 1x1 conv (+ bias, clamp) ->] depthwise kxk conv (+ bias, clamp)
//   [-> project 1x1 conv (+ residual, bias, clamp)]
// (the first block of MobileNetV2 has no expand conv: its depthwise reads the input rows
// in place; a block has at least two of the three convs)
// run band by band over the depthwise output rows, so that the wide intermediates never
// leave the core's L2.
//
// Unfused, the expand conv writes a tensor several times wider than its input (16 -> 96
// channels on 112x112 is 4.8 MB), which the depthwise conv reads back from L3/memory, and
// its output is read again by the project conv; with several threads each conv splits
// the work its own way, so a core reads what another core wrote. Here one band of depthwise
// output rows [o0, o1) computes the expand conv for just the input rows the band needs
// (its halo rows again for the next band) into a per-thread scratch [C][rows][W], the
// depthwise conv of that scratch into a second scratch [C][o1 - o0][oW], and the project
// conv from it into columns [o0 * oW, o1 * oW) of the output planes. Each thread takes whole
// bands (consecutive ones), so the data a thread writes is the data it reads.

import CFrugalKernels
import Synchronization

/// The three convolutions of an inverted-residual block, as one kernel call sees them.
public struct ConvBlockDescriptor: Sendable, Equatable {
    /// The expand convolution: 1x1, stride 1, no padding, one group; nil for a block that
    /// starts with the depthwise conv (it then has a project conv).
    public var expand: Conv2DDescriptor?
    /// The depthwise convolution of the expand's output: one group per channel.
    public var depthwise: Conv2DDescriptor
    /// The project convolution of the depthwise output (1x1, stride 1, no padding, one
    /// group), or nil for a block that ends with the depthwise conv.
    public var project: Conv2DDescriptor?

    public init(expand: Conv2DDescriptor?, depthwise: Conv2DDescriptor, project: Conv2DDescriptor?) {
        self.expand = expand
        self.depthwise = depthwise
        self.project = project
    }

    /// Whether the convolutions chain (each reads the previous one's output shape) and have
    /// the forms the band kernel runs.
    public var isSupported: Bool {
        let d = depthwise
        guard d.path == .depthwise, d.groups == d.inChannels, d.outChannels == d.inChannels,
              d.outHeight > 0, d.outWidth > 0, expand != nil || project != nil
        else { return false }
        if let e = expand {
            guard e.path == .pointwise, e.groups == 1, e.inChannels > 0, e.outChannels == d.inChannels,
                  d.batch == e.batch, d.inHeight == e.outHeight, d.inWidth == e.outWidth
            else { return false }
        }
        if let p = project {
            guard p.path == .pointwise, p.groups == 1, p.outChannels > 0, p.inChannels == d.outChannels,
                  p.batch == d.batch, p.inHeight == d.outHeight, p.inWidth == d.outWidth
            else { return false }
        }
        return true
    }

    /// Channels of the expanded tensor.
    public var expandedChannels: Int { depthwise.inChannels }
    /// Images in the batch.
    public var batch: Int { depthwise.batch }
    /// Channels of the block's input.
    public var inputChannels: Int { expand?.inChannels ?? depthwise.inChannels }
    /// Output shape of the block.
    public var outputShape: Shape { project?.outputShape ?? depthwise.outputShape }

    /// Scratch kept per thread, in bytes: a quarter of a 2 MiB L2, so that the band's input
    /// rows, weights and output rows stay there too. Measured on MobileNetV2's blocks (1 and 2
    /// threads, halo rows moved): 512 KiB as fast or faster than 256 KiB, 768 KiB and 1 MiB
    /// on each block the automatic rule runs in bands, by up to 10 %.
    public static let bandBudgetBytes = 512 << 10
    /// The layout to pack the project weights in: the one the project conv takes unfused
    /// (channels in the vector lanes for deep reductions on small maps, see
    /// ``Conv2DDescriptor/weightLayout``), which reads the band's depthwise output in place.
    public var projectLayout: GEMM.PackedA.Layout { project?.weightLayout ?? .rowPanels }
    /// The layout to pack the expand weights in, likewise.
    public var expandLayout: GEMM.PackedA.Layout { expand?.weightLayout ?? .rowPanels }

    /// Expanded tensors (one image, bytes) from which the bands pay: unfused, a map that
    /// fills half of the 2 MiB L2 or more goes out to L3 and back, and so does the next
    /// one's buffer.
    public static let minimumExpandedBytes = 1 << 20

    /// Whether the automatic rule runs this block in bands.
    ///
    /// Measured per block on MobileNetV2 (batch 1, bands against the separate convs, side by
    /// side): 16->96 on 112x112 (4.8 MB expanded, stride 2) 0.70-0.77x on 1 and 2 threads;
    /// 24->144 on 56x56 (1.8 MB) stride 1 0.86-0.93x, stride 2 1.04-1.17x when the block
    /// before it is unfused, but 1.3x unfused after a banded one (its output buffer, which
    /// the previous block's expand output had kept warm, comes cold from L3); 28x28 maps
    /// 0.96-1.4x, 14x14 0.95-1.13x, 7x7 1.0-1.2x (their intermediates stay in L2 unfused;
    /// bands only add halo rows and smaller products).
    public var bandsPay: Bool {
        expandedChannels * depthwise.inHeight * depthwise.inWidth * 4 >= Self.minimumExpandedBytes
    }

    /// Input rows of the depthwise conv that `rows` consecutive output rows read at most.
    func inputRows(forOutputRows rows: Int) -> Int {
        let effK = (depthwise.kernelHeight - 1) * depthwise.dilationHeight + 1
        return min(depthwise.inHeight, (rows - 1) * depthwise.strideHeight + effK)
    }

    /// Floats of one thread's expanded rows for bands of at most `rows` output rows (none
    /// without an expand conv: the depthwise reads the input in place).
    func expandedFloats(bandRows rows: Int) -> Int {
        if expand == nil { return 0 }
        return (expandedChannels * inputRows(forOutputRows: rows) * depthwise.inWidth + 15) / 16 * 16
    }

    /// Floats of one thread's scratch for bands of at most `rows` output rows: the expanded
    /// rows, then the depthwise output.
    func slotFloats(bandRows rows: Int) -> Int {
        let d = project == nil && rows >= depthwise.outHeight ? 0 : expandedChannels * rows * depthwise.outWidth
        return expandedFloats(bandRows: rows) + d
    }

    /// The most output rows per band whose scratch fits `bandBudgetBytes` (at least 1).
    public var defaultBandRows: Int {
        var rows = 1
        while rows < depthwise.outHeight && slotFloats(bandRows: rows + 1) * 4 <= Self.bandBudgetBytes { rows += 1 }
        return rows
    }

    /// Bands per image for bands of at most `bandRows` rows on `threads` threads: the
    /// fewest that respect the height, raised so that the bands of the batch split evenly
    /// over the threads where the rows allow it.
    func bandsPerImage(bandRows: Int, threads: Int) -> Int {
        let oH = depthwise.outHeight
        var bands = (oH + bandRows - 1) / max(1, bandRows)
        while bands < oH && (batch * bands) % threads != 0 { bands += 1 }
        return bands
    }

    /// Floats of workspace ``ConvBlock/forward(_:_:input:output:bandRows:workspace:pool:)``
    /// needs for bands of at most `bandRows` output rows on `threads` threads.
    public func workspaceCount(bandRows: Int, threads: Int) -> Int {
        let bands = bandsPerImage(bandRows: bandRows, threads: threads)
        let rows = (depthwise.outHeight + bands - 1) / bands
        return slotFloats(bandRows: rows) * max(1, min(threads, batch * bands, 64))
    }
}

/// The weights and epilogues of a block (see ``ConvBlockDescriptor``).
public struct ConvBlockWeights {
    /// The expand weights packed as A of W · X (``GEMM/PackedA``, in
    /// ``ConvBlockDescriptor/expandLayout``); nil when the block has no expand conv.
    public var expand: GEMM.PackedA?
    public var expandBias: UnsafePointer<Float>?
    public var expandClamp: OutputClamp?
    /// The depthwise weights [C, 1, kH, kW] as stored.
    public var depthwise: UnsafePointer<Float>
    public var depthwiseBias: UnsafePointer<Float>?
    public var depthwiseClamp: OutputClamp?
    /// The project weights packed as A (in ``ConvBlockDescriptor/projectLayout``); nil when
    /// the block has no project conv.
    public var project: GEMM.PackedA?
    public var projectBias: UnsafePointer<Float>?
    public var projectClamp: OutputClamp?
    /// Added to the project conv's output before its bias and clamp (a residual of the
    /// output's shape), or nil.
    public var residual: UnsafePointer<Float>?

    public init(expand: GEMM.PackedA?, expandBias: UnsafePointer<Float>?, expandClamp: OutputClamp?,
                depthwise: UnsafePointer<Float>, depthwiseBias: UnsafePointer<Float>?, depthwiseClamp: OutputClamp?,
                project: GEMM.PackedA?, projectBias: UnsafePointer<Float>?, projectClamp: OutputClamp?,
                residual: UnsafePointer<Float>?) {
        self.expand = expand
        self.expandBias = expandBias
        self.expandClamp = expandClamp
        self.depthwise = depthwise
        self.depthwiseBias = depthwiseBias
        self.depthwiseClamp = depthwiseClamp
        self.project = project
        self.projectBias = projectBias
        self.projectClamp = projectClamp
        self.residual = residual
    }
}

/// The band kernel of an inverted-residual block.
public enum ConvBlock {
    /// Runs the block of `b` (``ConvBlockDescriptor/isSupported``) on `input` [N, Cin, H, W]
    /// into `output` (``ConvBlockDescriptor/outputShape``) in bands of at most `bandRows`
    /// depthwise output rows, with `workspace` of at least
    /// ``ConvBlockDescriptor/workspaceCount(bandRows:threads:)`` floats. Gives the result of
    /// the three convolutions run one after the other, up to float rounding. `output` must
    /// not overlap the inputs; the packed weights must have been packed for the descriptor's
    /// shapes (m = output channels, k = input channels).
    public static func forward(
        _ b: ConvBlockDescriptor, _ w: ConvBlockWeights, input: UnsafePointer<Float>,
        output: UnsafeMutablePointer<Float>, bandRows: Int, workspace: UnsafeMutablePointer<Float>,
        pool: ThreadPool?
    ) {
        precondition(b.isSupported, "ConvBlock.forward: the convolutions do not chain (ConvBlockDescriptor.isSupported)")
        if let e = b.expand {
            precondition(w.expand != nil && w.expand!.m == b.expandedChannels && w.expand!.k == e.inChannels,
                         "ConvBlock.forward: expand weights packed for another shape")
        }
        if let p = b.project {
            precondition(w.project != nil && w.project!.m == p.outChannels && w.project!.k == p.inChannels,
                         "ConvBlock.forward: project weights packed for another shape")
        }
        let threads = pool?.threadCount ?? 1
        let bands = b.bandsPerImage(bandRows: bandRows, threads: threads)
        let total = b.batch * bands
        let slots = max(1, min(threads, total, 64))
        let rows = (b.depthwise.outHeight + bands - 1) / bands
        let perSlot = b.slotFloats(bandRows: rows)
        let avx512 = DepthwiseConv.usesAVX512(b.depthwise, isa: nil)
        let oH = b.depthwise.outHeight, eFloats = b.expandedFloats(bandRows: rows)
        // Per slot: the image and the input rows [r0, r1) its expanded rows hold (-1: none).
        let held = UnsafeMutablePointer<Int>.allocate(capacity: 3 * slots)
        held.initialize(repeating: -1, count: 3 * slots)
        defer { held.deallocate() }
        func run(_ j: Int, _ slot: Int) {
            let n = j / bands, i = j % bands
            let ws = workspace + slot * perSlot
            band(b, w, image: n, rows: oH * i / bands ..< oH * (i + 1) / bands, input: input, output: output,
                 expanded: ws, held: held + 3 * slot, depthwiseOut: ws + eFloats, avx512: avx512)
        }
        if slots == 1 || pool == nil {
            for j in 0..<total { run(j, 0) }
            return
        }
        // One task per band: the pool hands each thread its own share of consecutive bands
        // first (the rows it will read again in the next block), then lets it help with the
        // others' when it is done, so a thread slowed by other work delays no one. A task
        // takes a free scratch slot for the time it runs (at most `slots` run at once).
        let free = Mutex<UInt64>(slots >= 64 ? ~0 : (1 << UInt64(slots)) - 1)
        pool!.parallelFor(total) { j in
            let slot = free.withLock { mask in
                let s = mask.trailingZeroBitCount
                mask &= ~(1 << UInt64(s))
                return s
            }
            run(j, slot)
            free.withLock { $0 |= 1 << UInt64(slot) }
        }
    }

    /// One band: output rows `o` of image `n`. `expanded` holds the expanded input rows
    /// `held[1] ..< held[2]` of image `held[0]` from the slot's previous band: the rows this
    /// band shares with it (the halo of a stride-1 conv) are moved, not computed again.
    static func band(
        _ b: ConvBlockDescriptor, _ w: ConvBlockWeights, image n: Int, rows o: Range<Int>,
        input: UnsafePointer<Float>, output: UnsafeMutablePointer<Float>,
        expanded: UnsafeMutablePointer<Float>, held: UnsafeMutablePointer<Int>,
        depthwiseOut: UnsafeMutablePointer<Float>, avx512: Bool
    ) {
        let d = b.depthwise, C = b.expandedChannels
        let H = d.inHeight, W = d.inWidth, oH = d.outHeight, oW = d.outWidth
        let effK = (d.kernelHeight - 1) * d.dilationHeight + 1
        // Input rows [top, top + span) of the depthwise conv, of which [r0, r1) lie in the image.
        let top = o.lowerBound * d.strideHeight - d.padTop
        let r0 = max(0, top), r1 = min(H, (o.upperBound - 1) * d.strideHeight - d.padTop + effK)
        let bandOut = o.count * oW
        let projected = b.project != nil
        let ownPlanes = !projected && o.count == oH  // the depthwise writes the output directly
        let dwOut = ownPlanes ? output + n * C * oH * oW : depthwiseOut
        if r1 > r0, b.expand == nil {
            // No expand conv: the depthwise reads rows [r0, r1) of the input planes in place,
            // one plane per call (the planes are H rows apart, not `rows`).
            var shape = DepthwiseConv.shape(d, clamp: w.depthwiseClamp, band: (r1 - r0, o.count, r0 - top))
            let taps = d.kernelHeight * d.kernelWidth
            for c in 0..<C {
                DepthwiseConv.planes(&shape, count: 1, input: input + (n * C + c) * H * W + r0 * W,
                                     weight: w.depthwise + c * taps, bias: w.depthwiseBias.map { $0 + c },
                                     output: dwOut + c * bandOut, avx512: avx512)
            }
        } else if r1 > r0, let e = b.expand, let ew = w.expand {
            let rows = r1 - r0, plane = rows * W
            var start = r0  // first row to compute
            if held[0] == n, held[1] <= r0, r0 < held[2], held[2] <= r1 {
                // Planes of (held[2] - held[1]) rows become planes of `rows` rows, in place:
                // in channel order when they shrink, in reverse when they grow, so that no
                // channel's rows are overwritten before they are moved.
                let old = (held[2] - held[1]) * W, skip = (r0 - held[1]) * W, keep = (held[2] - r0) * W
                if plane <= old {
                    for c in 0..<C { (expanded + c * plane).update(from: expanded + c * old + skip, count: keep) }
                } else {
                    for c in (0..<C).reversed() { (expanded + c * plane).update(from: expanded + c * old + skip, count: keep) }
                }
                start = held[2]
            }
            if start < r1 {
                GEMM.sgemm(a: ew, n: (r1 - start) * W, b: input + n * e.inChannels * H * W + start * W,
                           ldb: H * W, c: expanded + (start - r0) * W, ldc: plane,
                           bias: w.expandBias.map { .perRow($0) } ?? .none,
                           clamp: w.expandClamp.map { $0.lower...$0.upper }, pool: KernelSupport.serialPool)
            }
            (held[0], held[1], held[2]) = (n, r0, r1)
            var shape = DepthwiseConv.shape(d, clamp: w.depthwiseClamp, band: (rows, o.count, r0 - top))
            DepthwiseConv.planes(&shape, count: C, input: expanded, weight: w.depthwise, bias: w.depthwiseBias,
                                 output: dwOut, avx512: avx512)
        } else {
            // Every tap of the band falls in the padding: the output is the bias, clamped.
            for c in 0..<C {
                let p = dwOut + c * bandOut
                p.initialize(repeating: w.depthwiseBias?[c] ?? 0, count: bandOut)
                if let cl = w.depthwiseClamp { KernelSupport.clamp(p, bandOut, cl) }
            }
        }
        if let p = b.project, let pw = w.project {
            let M = p.outChannels
            let y = output + n * M * oH * oW + o.lowerBound * oW
            if let r = w.residual {
                let src = r + n * M * oH * oW + o.lowerBound * oW
                for m in 0..<M { (y + m * oH * oW).update(from: src + m * oH * oW, count: bandOut) }
            }
            GEMM.sgemm(a: pw, n: bandOut, b: dwOut, ldb: bandOut, c: y, ldc: oH * oW, accumulate: w.residual != nil,
                       bias: w.projectBias.map { .perRow($0) } ?? .none,
                       clamp: w.projectClamp.map { $0.lower...$0.upper }, pool: KernelSupport.serialPool)
        } else if !ownPlanes {
            let y = output + n * C * oH * oW + o.lowerBound * oW
            for c in 0..<C { (y + c * oH * oW).update(from: dwOut + c * bandOut, count: bandOut) }
        }
    }
}
