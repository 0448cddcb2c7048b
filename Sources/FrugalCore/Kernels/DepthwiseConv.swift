// Direct convolution for one input channel per group (depthwise, and channel multipliers
// M = k * C). Each output plane reads one input plane; the per-plane loops are C
// (CFrugalKernels/dwconv_*.c): AVX-512 for strides 1 and 2 along W (16 outputs per vector,
// masked loads at the edges so the plane needs no zero-padded copy; 3x3 planes in blocks of
// four output rows; planes at most 8 wide two output rows per vector, any stride), plain C
// otherwise. Bias and the fused clamp are applied in the same pass. Threaded over (image,
// channel) planes, claimed dynamically in chunks; the AVX-512 kernel takes a run of
// consecutive channels per call so that its per-shape setup is paid once per run.
//
// Measured with perf sampling (MobileNetV2 batch 1, 1 thread, on a loaded 2-core machine):
// the previous Swift SIMD16 rows (compiled without AVX-512 target flags) plus a zero-padded
// copy of every plane were ~28% of the samples; this kernel with masks computed per tap was
// still ~25% (mask arithmetic dominated the 7- to 28-wide planes); with masks computed once
// per 16-column strip, ~15%. Row blocks and the two-rows-per-vector narrow kernel then cut
// the per-layer times by 25-60% (see the dwperf branch's commit messages).
import CFrugalKernels

enum DepthwiseConv {
    /// No scratch: padding is handled by masked loads (AVX-512) or edge loops (portable).
    static func workspaceCount(_ d: Conv2DDescriptor, threadCount: Int) -> Int { 0 }

    /// Whether the AVX-512 kernels may be tried for `d` on this CPU (`isa` nil: best
    /// available); they still decline shapes they do not handle (the portable loop runs).
    static func usesAVX512(_ d: Conv2DDescriptor, isa: KernelISA?) -> Bool {
        let want = isa ?? KernelISA.best
        return (want == .avx512 || want == .avx512Vnni) && want.isSupported
    }

    /// The C kernels' view of `d` with `clamp`: whole planes, or (`band`) `rows` input rows
    /// read for `outRows` output rows, the first of them `padTop` rows below the first tap.
    static func shape(_ d: Conv2DDescriptor, clamp: OutputClamp?,
                      band: (rows: Int, outRows: Int, padTop: Int)? = nil) -> frugal_dwconv_shape {
        frugal_dwconv_shape(
            h: band?.rows ?? d.inHeight, w: d.inWidth, oh: band?.outRows ?? d.outHeight, ow: d.outWidth,
            kh: d.kernelHeight, kw: d.kernelWidth, sh: d.strideHeight, sw: d.strideWidth,
            dh: d.dilationHeight, dw: d.dilationWidth, pad_top: band?.padTop ?? d.padTop, pad_left: d.padLeft,
            clamp: clamp == nil ? 0 : 1, lo: clamp?.lower ?? 0, hi: clamp?.upper ?? 0)
    }

    /// `count` consecutive channels of one image under `shape`: plane i reads
    /// input + i*h*w and weight + i*kh*kw, adds bias[i] and writes output + i*oh*ow.
    static func planes(
        _ shape: UnsafePointer<frugal_dwconv_shape>, count: Int, input: UnsafePointer<Float>,
        weight: UnsafePointer<Float>, bias: UnsafePointer<Float>?, output: UnsafeMutablePointer<Float>, avx512: Bool
    ) {
        if avx512 && frugal_dwconv_planes_avx512(shape, count, input, weight, bias, output) != 0 { return }
        let s = shape.pointee
        let inPlane = s.h * s.w, outPlane = s.oh * s.ow, taps = s.kh * s.kw
        for i in 0..<count {
            frugal_dwconv_plane_portable(shape, input + i * inPlane, weight + i * taps, bias?[i] ?? 0, output + i * outPlane)
        }
    }

    static func forward(
        _ d: Conv2DDescriptor, input: UnsafePointer<Float>, weight: UnsafePointer<Float>,
        bias: UnsafePointer<Float>?, output: UnsafeMutablePointer<Float>, clamp: OutputClamp?,
        pool: ThreadPool?, isa: KernelISA? = nil
    ) {
        let H = d.inHeight, W = d.inWidth, oH = d.outHeight, oW = d.outWidth
        let kH = d.kernelHeight, kW = d.kernelWidth
        let M = d.outChannels, Mg = d.groupOutChannels
        var shape = Self.shape(d, clamp: clamp)
        let avx512 = usesAVX512(d, isa: isa)
        let planes = d.batch * M
        // Roughly ns per plane: one FMA per tap per output, ~8-16 per ns with AVX-512.
        let cost = max(1, oH * oW * kH * kW / (avx512 ? 8 : 2))
        let threads = pool?.threadCount ?? 1
        // Chunks are claimed dynamically: 4 per thread so that a core busy with another job
        // takes fewer. Below ~30 µs of work the dispatch is not worth it.
        let tasks = threads == 1 || planes * cost < 30_000 ? 1 : min(planes, 4 * threads)
        withUnsafePointer(to: &shape) { s in
            // Planes p0..<p1 of one image, channels m0..<m0 + (p1 - p0).
            func run(_ p0: Int, _ p1: Int) {
                let n = p0 / M, m0 = p0 % M
                let out = output + p0 * oH * oW
                // One input channel per output channel: the planes' inputs are consecutive too.
                if avx512 && Mg == 1
                    && frugal_dwconv_planes_avx512(s, p1 - p0, input + p0 * H * W, weight + m0 * kH * kW,
                                                   bias.map { $0 + m0 }, out) != 0 {
                    return
                }
                for p in p0..<p1 {
                    let m = p - n * M
                    let src = input + (n * d.inChannels + m / Mg) * H * W
                    let w = weight + m * kH * kW
                    let o = output + p * oH * oW
                    if avx512 && frugal_dwconv_planes_avx512(s, 1, src, w, bias.map { $0 + m }, o) != 0 { continue }
                    frugal_dwconv_plane_portable(s, src, w, bias?[m] ?? 0, o)
                }
            }
            let body: (Int) -> Void = { t in
                var p = planes * t / tasks
                let end = planes * (t + 1) / tasks
                while p < end {
                    let imageEnd = min(end, (p / M + 1) * M)
                    run(p, imageEnd)
                    p = imageEnd
                }
            }
            if tasks == 1 { body(0) } else { pool!.parallelFor(tasks, body) }
        }
    }
}
