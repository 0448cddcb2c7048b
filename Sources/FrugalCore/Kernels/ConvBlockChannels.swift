// An inverted-residual block (see ConvBlockBands.swift) run as ONE parallel region split by
// expanded channels: task s of an image computes the expand conv for its channels
// [c_s, c_{s+1}) on the whole map, the depthwise conv of exactly those channels (per-channel,
// so no halo and nothing read from another core), and the project conv's partial sum over
// them (the reduction split by the same channels) for all output channels. The last task of
// the image to finish adds the partial sums, the residual and the bias and clamps.
//
// Run as three separate convolutions on small maps (28x28 and below), each conv splits its
// work its own way (the 1x1s by positions, the depthwise by channels): a core reads half of
// each conv's input from the other core's cache, reads every weight of both 1x1 convs, and
// the block pays three fork/joins. Here a core reads half of the 1x1 weights (on 7x7 maps
// the weights, 2 x 600 KB per block, are most of the traffic), its own intermediates, and
// crosses cores once: the partial sums (output channels x positions) at the end.

import CFrugalKernels
import Synchronization

extension ConvBlockDescriptor {
    /// Expanded channels of each of `slices` tasks of an image: near-equal runs, their
    /// boundaries on multiples of 16 (a vector of output channels) where the count allows.
    public func channelSlices(_ slices: Int) -> [Range<Int>] {
        let C = expandedChannels, s = max(1, min(slices, C))
        let unit = C >= 16 * s ? 16 : 1
        let units = (C + unit - 1) / unit
        return (0..<s).map { i in min(C, units * i / s * unit) ..< min(C, units * (i + 1) / s * unit) }
    }

    /// Where the parts of one task's scratch start, for the channel split in `slices` slices
    /// (each part a whole number of 16-float vectors): its expanded channels on the whole
    /// map, their depthwise output from `depthwiseOut`, and (tasks after the first) the
    /// partial project sum from `partial`, up to `total`.
    func channelTaskLayout(slices: Int) -> (depthwiseOut: Int, partial: Int, total: Int) {
        let widest = channelSlices(slices).map(\.count).max() ?? 0
        let oHW = depthwise.outHeight * depthwise.outWidth
        func vectors(_ floats: Int) -> Int { (floats + 15) / 16 * 16 }
        let e = expand == nil ? 0 : vectors(widest * depthwise.inHeight * depthwise.inWidth)
        let dw = project == nil ? 0 : vectors(widest * oHW)
        return (e, e + dw, e + dw + vectors(project.map { $0.outChannels * oHW } ?? 0))
    }

    /// Floats of workspace ``ConvBlock/forwardByChannels(_:_:input:output:workspace:pool:)``
    /// needs for weights sliced in `slices`.
    public func channelWorkspaceCount(slices: Int) -> Int {
        channelTaskLayout(slices: slices).total * batch * max(1, min(slices, expandedChannels))
    }

    /// Whether the automatic rule runs this block split by channels (in one slice on one
    /// thread: the three convs fused on the whole map): one image (batch 8 runs whole images
    /// per thread, which shares nothing either) and a map small enough that the block is
    /// not run in bands.
    public var channelSplitPays: Bool {
        batch == 1 && !bandsPay
    }
}

/// A block's weights sliced by expanded channels for ``ConvBlock/forwardByChannels``.
public final class ConvBlockSlices: @unchecked Sendable {
    /// Expanded channels of each slice.
    public let slices: [Range<Int>]
    /// Rows `slices[s]` of the expand weights, packed (``ConvBlockDescriptor/expandLayout``);
    /// empty when the block has no expand conv.
    public let expand: [GEMM.PackedA]
    /// Columns `slices[s]` of the project weights, packed (``ConvBlockDescriptor/projectLayout``);
    /// empty when the block has no project conv.
    public let project: [GEMM.PackedA]

    /// Packs `expandWeight` [E, Cin] and `projectWeight` [M, E] (when the block has a project
    /// conv) in `slices` slices of expanded channels.
    public init(_ b: ConvBlockDescriptor, expandWeight: UnsafePointer<Float>?, projectWeight: UnsafePointer<Float>?,
                slices count: Int) {
        let cin = b.inputChannels, E = b.expandedChannels
        slices = b.channelSlices(count)
        if b.expand != nil, let ew = expandWeight {
            expand = slices.map { r in
                GEMM.PackedA(m: r.count, k: cin, a: ew + r.lowerBound * cin, lda: max(1, cin), layout: b.expandLayout)
            }
        } else {
            expand = []
        }
        if let p = b.project, let pw = projectWeight {
            project = slices.map { r in
                GEMM.PackedA(m: p.outChannels, k: r.count, a: pw + r.lowerBound, lda: max(1, E), layout: b.projectLayout)
            }
        } else {
            project = []
        }
    }

    /// Whether these slices were packed for `b` in `count` slices.
    public func fits(_ b: ConvBlockDescriptor, slices count: Int) -> Bool {
        slices == b.channelSlices(count)
            && (b.expand == nil ? expand.isEmpty
                : expand.count == slices.count && expand[0].k == b.inputChannels && expand[0].layout == b.expandLayout)
            && (b.project == nil ? project.isEmpty
                : project.count == slices.count && project[0].m == b.project!.outChannels && project[0].layout == b.projectLayout)
    }
}

extension ConvBlock {
    /// Runs the block of `b` like ``forward(_:_:input:output:bandRows:workspace:pool:)``, as
    /// one parallel region of (image, channel slice) tasks (see the file comment); `w`'s
    /// packed expand and project matrices are not read (the slices' are). `workspace` holds
    /// at least ``ConvBlockDescriptor/channelWorkspaceCount(slices:)`` floats.
    public static func forwardByChannels(
        _ b: ConvBlockDescriptor, _ w: ConvBlockWeights, slices sw: ConvBlockSlices, input: UnsafePointer<Float>,
        output: UnsafeMutablePointer<Float>, workspace: UnsafeMutablePointer<Float>, pool: ThreadPool?
    ) {
        precondition(b.isSupported, "ConvBlock.forwardByChannels: the convolutions do not chain (ConvBlockDescriptor.isSupported)")
        let S = sw.slices.count
        precondition(sw.fits(b, slices: S), "ConvBlock.forwardByChannels: weights sliced for another shape")
        let d = b.depthwise, N = b.batch, cin = b.inputChannels, E = b.expandedChannels
        let HW = d.inHeight * d.inWidth, oHW = d.outHeight * d.outWidth
        let layout = b.channelTaskLayout(slices: S), per = layout.total
        let avx512 = DepthwiseConv.usesAVX512(d, isa: nil)
        let taps = d.kernelHeight * d.kernelWidth
        var shape = DepthwiseConv.shape(d, clamp: w.depthwiseClamp)
        // Tasks of each image still running; the one that brings it to 0 finishes the image.
        let left = Mutex<[Int]>([Int](repeating: S, count: N))
        withUnsafePointer(to: &shape) { shapePointer in
            func task(_ t: Int) {
                let n = t / S, s = t % S, r = sw.slices[s]
                let ws = workspace + t * per
                let expanded = ws, dwOut = ws + layout.depthwiseOut, partial = ws + layout.partial
                if !r.isEmpty {
                    // Without an expand conv the depthwise reads the input's channels in place.
                    var source = UnsafePointer(input + (n * cin + r.lowerBound) * HW)
                    if b.expand != nil {
                        GEMM.sgemm(a: sw.expand[s], n: HW, b: input + n * cin * HW, ldb: HW, c: expanded, ldc: HW,
                                   bias: w.expandBias.map { .perRow($0 + r.lowerBound) } ?? .none,
                                   clamp: w.expandClamp.map { $0.lower...$0.upper }, pool: KernelSupport.serialPool)
                        source = UnsafePointer(expanded)
                    }
                    // Without a project conv the depthwise writes the output's channels directly.
                    let dst = b.project == nil ? output + (n * E + r.lowerBound) * oHW : dwOut
                    DepthwiseConv.planes(shapePointer, count: r.count, input: source, weight: w.depthwise + r.lowerBound * taps,
                                         bias: w.depthwiseBias.map { $0 + r.lowerBound }, output: dst, avx512: avx512)
                }
                guard let p = b.project else { return }
                let M = p.outChannels
                let y = output + n * M * oHW
                if S == 1 {
                    // One slice: the whole product, residual, bias and clamp in the GEMM.
                    if let rp = w.residual { y.update(from: rp + n * M * oHW, count: M * oHW) }
                    GEMM.sgemm(a: sw.project[0], n: oHW, b: dwOut, ldb: oHW, c: y, ldc: oHW, accumulate: w.residual != nil,
                               bias: w.projectBias.map { .perRow($0) } ?? .none,
                               clamp: w.projectClamp.map { $0.lower...$0.upper }, pool: KernelSupport.serialPool)
                    return
                }
                if !r.isEmpty {
                    GEMM.sgemm(a: sw.project[s], n: oHW, b: dwOut, ldb: oHW, c: s == 0 ? y : partial, ldc: oHW,
                               pool: KernelSupport.serialPool)
                } else {
                    (s == 0 ? y : partial).initialize(repeating: 0, count: M * oHW)
                }
                let last = left.withLock { counts in
                    counts[n] -= 1
                    return counts[n] == 0
                }
                if last { finish(y, image: n) }
            }
            // y += the other slices' partial sums + residual, + bias, clamped.
            func finish(_ y: UnsafeMutablePointer<Float>, image n: Int) {
                let M = b.project!.outChannels
                let residual = w.residual.map { $0 + n * M * oHW }
                // One pass per row for the last partial, the residual, the bias and the clamp
                // (an infinite range when there is none: NaNs pass, as unclamped).
                let lo = w.projectClamp?.lower ?? -.infinity, hi = w.projectClamp?.upper ?? .infinity
                for m in 0..<M {
                    let row = y + m * oHW
                    for s in 1..<max(1, S - 1) {
                        let src = workspace + (n * S + s) * per + layout.partial + m * oHW
                        for i in 0..<oHW { row[i] += src[i] }
                    }
                    let last = workspace + (n * S + S - 1) * per + layout.partial + m * oHW
                    let bias = w.projectBias?[m] ?? 0
                    if let rp = residual {
                        let r = rp + m * oHW
                        for i in 0..<oHW {
                            var v = row[i] + last[i] + r[i] + bias
                            v = v < lo ? lo : v
                            row[i] = v > hi ? hi : v
                        }
                    } else {
                        for i in 0..<oHW {
                            var v = row[i] + last[i] + bias
                            v = v < lo ? lo : v
                            row[i] = v > hi ? hi : v
                        }
                    }
                }
            }
            if N * S == 1 || pool == nil {
                for t in 0..<(N * S) { task(t) }
            } else {
                pool!.parallelFor(N * S, task)
            }
        }
    }
}
