// Direct convolution for shallow reductions: groups 1, at most `maxInChannels` input
// channels (a network's first convolution: MobileNetV2's 3 -> 32 3x3 stride-2 stem,
// LeNet-5's 1 -> 6 5x5), any kernel size, stride, padding and dilation up to
// FRUGAL_CONVS_MAX_TAPS taps. The output positions go in the vector lanes and the output
// channels in registers (convsmall_avx512.c): no column matrix and no GEMM packing of it,
// which at a reduction depth of 27 cost as much as the multiply-adds.
//
// Work items are bands of output rows of one image; each band copies the input rows it
// reads once into a small zero-padded buffer split by column phase (so strided taps are
// plain vector loads), in chunks of rows that keep that buffer in L1.
import CFrugalKernels
import Synchronization

enum ConvDirect {
    /// Input channels up to which a groups-1 convolution runs here.
    static let maxInChannels = 4
    /// Output rows narrower than this leave most of a 16-lane vector idle: general path.
    static let minOutWidth = 8
    /// Target floats of one chunk's row buffer (32 KiB of the 48 KiB L1).
    static let chunkFloats = 8 * 1024
    /// Below this many multiply-adds a convolution runs on the calling thread only.
    static let parallelThreshold = 1 << 16

    /// Whether `d` runs here (AVX-512 only; other CPUs take the general path).
    static func handles(_ d: Conv2DDescriptor) -> Bool {
        guard d.groups == 1, d.inChannels >= 1, d.inChannels <= maxInChannels, d.outWidth >= minOutWidth else { return false }
        let taps = d.inChannels * d.kernelHeight * d.kernelWidth
        guard taps <= Int(FRUGAL_CONVS_MAX_TAPS), d.inWidth <= 1 << 20, d.strideWidth <= 64, d.dilationWidth <= 1 << 16,
              d.dilationHeight <= 1 << 16, d.strideHeight <= 1 << 16 else { return false }
        let isa = KernelISA.best
        return isa == .avx512 || isa == .avx512Vnni
    }

    /// The C shape of `d` with the packed weight (`taps` x `mpad`).
    private static func shape(_ d: Conv2DDescriptor, weight: UnsafePointer<Float>?, bias: UnsafePointer<Float>?,
                              clamp: OutputClamp?) -> frugal_convs_shape {
        let mr = Int(FRUGAL_CONVS_MR)
        return frugal_convs_shape(
            cin: d.inChannels, h: d.inHeight, w: d.inWidth, oh: d.outHeight, ow: d.outWidth,
            kh: d.kernelHeight, kw: d.kernelWidth, sh: d.strideHeight, sw: d.strideWidth,
            dh: d.dilationHeight, dw: d.dilationWidth, pad_top: d.padTop, pad_left: d.padLeft,
            m: d.outChannels, weight: weight, mpad: (d.outChannels + mr - 1) / mr * mr, bias: bias,
            clamp: clamp == nil ? 0 : 1, lo: clamp?.lower ?? 0, hi: clamp?.upper ?? 0)
    }

    /// Convolves as ``Conv2D/forward(_:input:weight:bias:output:clamp:workspace:workspaceCount:pool:packedWeights:accumulate:)``
    /// for a descriptor `handles` accepted; returns false (nothing written) if the kernel declined.
    static func forward(
        _ d: Conv2DDescriptor, input: UnsafePointer<Float>, weight: UnsafePointer<Float>,
        bias: UnsafePointer<Float>?, output: UnsafeMutablePointer<Float>, clamp: OutputClamp?, pool: ThreadPool?
    ) -> Bool {
        let N = d.batch, oH = d.outHeight, oW = d.outWidth, M = d.outChannels
        let taps = d.inChannels * d.kernelHeight * d.kernelWidth
        if N == 0 || M == 0 || oH == 0 || oW == 0 { return true }
        var s = shape(d, weight: nil, bias: bias, clamp: clamp)
        // Rows per chunk: as many as keep the row buffer near `chunkFloats` (at least one).
        let perRow = frugal_convs_buffer_count(&s, 2) - frugal_convs_buffer_count(&s, 1)
        let chunk = max(1, min(oH, (chunkFloats - frugal_convs_buffer_count(&s, 1)) / max(perRow, 1) + 1))
        let bufferCount = frugal_convs_buffer_count(&s, chunk)
        guard bufferCount < Int(Int32.max) else { return false }

        let macs = N.multipliedReportingOverflow(by: M * taps * oH * oW)
        let big = macs.overflow || macs.partialValue >= parallelThreshold
        let threads = big ? min(64, pool?.threadCount ?? 1) : 1
        // Bands: whole images when there are enough to share out, else each image cut so
        // that every thread gets two bands.
        let bandsPerImage = threads == 1 || N >= 2 * threads ? 1 : min(oH, (2 * threads + N - 1) / N)
        let items = N * bandsPerImage
        let tasks = threads == 1 ? 1 : min(items, 4 * threads)

        let ws = SGEMMWorkspace.take()
        defer { SGEMMWorkspace.recycle(ws) }
        // The weight, tap-major with the output channels padded to the kernel's block.
        let mpad = s.mpad
        ws.reserve(slot: 0, count: taps * mpad)
        let packed = ws.buffer(0)
        packed.initialize(repeating: 0, count: taps * mpad)
        for m in 0..<M {
            for t in 0..<taps { packed[t * mpad + m] = weight[m * taps + t] }
        }
        s.weight = UnsafePointer(packed)
        for slot in 0..<min(threads, tasks) { ws.reserve(slot: 1 + slot, count: bufferCount) }
        let inImage = d.inChannels * d.inHeight * d.inWidth, outImage = M * oH * oW
        let declined = Atomic(false)
        SGEMMDriver.parallel(tasks, threads > 1 ? pool : nil) { t in
            let (lo, hi) = SGEMMDriver.split(items, tasks, t)
            let slot = ws.acquireSlot()
            let buffer = ws.buffer(1 + slot)
            var shape = s
            for item in lo..<hi {
                let n = item / bandsPerImage, band = item % bandsPerImage
                let (r0, r1) = SGEMMDriver.split(oH, bandsPerImage, band)
                var r = r0
                while r < r1 {
                    let e = min(r1, r + chunk)
                    if frugal_convs_band_avx512(&shape, input + n * inImage, r, e, buffer, output + n * outImage) == 0 {
                        declined.store(true, ordering: .relaxed)
                    }
                    r = e
                }
            }
            ws.releaseSlot(slot)
        }
        return !declined.load(ordering: .relaxed)
    }
}
