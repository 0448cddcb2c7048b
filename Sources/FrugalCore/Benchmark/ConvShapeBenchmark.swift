import Foundation

/// Times the GEMM-based layers of MobileNetV2 (batch 1) one shape at a time, as the engine
/// runs them: weights packed once outside the timed region and evicted from the caches before
/// each run (the input is read back in), bias and ReLU6 in the epilogue, the residual
/// projections accumulating. `frugal bench kernels --conv-shapes` reports them.
public enum ConvShapeBenchmark {
    /// One layer shape: a convolution (pointwise or the 3x3 stem) or the classifier Gemm.
    public struct Shape: Sendable {
        public let name: String
        /// Output channels (Gemm: output features).
        public let m: Int
        /// Reduction length (Cin x kH x kW; Gemm: input features).
        public let k: Int
        /// Output positions (Gemm: batch rows).
        public let n: Int
        let conv: Conv2DDescriptor?
        let accumulate: Bool
    }

    public struct Result: Sendable {
        public let shape: Shape
        /// Best and median time of one run, in seconds.
        public let bestSeconds: Double
        public let medianSeconds: Double
        /// 2·m·n·k / median time, in 10^9 per second.
        public var medianGFlops: Double { 2 * Double(shape.m * shape.n * shape.k) / medianSeconds / 1e9 }
    }

    static func pointwise(_ name: String, _ m: Int, _ k: Int, _ side: Int, residual: Bool = false) -> Shape {
        let d = Conv2DDescriptor(batch: 1, inChannels: k, inHeight: side, inWidth: side, outChannels: m,
                                 kernelHeight: 1, kernelWidth: 1)
        return Shape(name: name, m: m, k: k, n: side * side, conv: d, accumulate: residual)
    }

    /// The distinct GEMM-based layer shapes of MobileNetV2 at batch 1.
    public static let mobileNetV2: [Shape] = [
        Shape(name: "features.0 3x3s2", m: 32, k: 27, n: 112 * 112,
              conv: Conv2DDescriptor(batch: 1, inChannels: 3, inHeight: 224, inWidth: 224, outChannels: 32,
                                     kernelHeight: 3, kernelWidth: 3, strides: (2, 2), pads: (1, 1, 1, 1)),
              accumulate: false),
        pointwise("features.1/conv.1", 16, 32, 112),
        pointwise("features.2/conv.0", 96, 16, 112),
        pointwise("features.2/conv.2", 24, 96, 56),
        pointwise("features.3/conv.0", 144, 24, 56),
        pointwise("features.3/conv.2", 24, 144, 56, residual: true),
        pointwise("features.4/conv.2", 32, 144, 28),
        pointwise("features.5/conv.0", 192, 32, 28),
        pointwise("features.5/conv.2", 32, 192, 28, residual: true),
        pointwise("features.7/conv.2", 64, 192, 14),
        pointwise("features.8/conv.0", 384, 64, 14),
        pointwise("features.8/conv.2", 64, 384, 14, residual: true),
        pointwise("features.11/conv.2", 96, 384, 14),
        pointwise("features.12/conv.0", 576, 96, 14),
        pointwise("features.12/conv.2", 96, 576, 14, residual: true),
        pointwise("features.14/conv.2", 160, 576, 7),
        pointwise("features.15/conv.0", 960, 160, 7),
        pointwise("features.15/conv.2", 160, 960, 7, residual: true),
        pointwise("features.17/conv.2", 320, 960, 7),
        pointwise("features.18", 1280, 320, 7),
        Shape(name: "classifier", m: 1000, k: 1280, n: 1, conv: nil, accumulate: false),
    ]

    /// Times `shape` on `threads` threads: one warm-up, then at least `minimumRepetitions` runs
    /// and `minimumSeconds`.
    /// `layout` forces the packing of a pointwise layer's weights (nil: the engine's choice,
    /// `Conv2DDescriptor.weightLayout`).
    public static func run(_ shape: Shape, threads: Int, layout: GEMM.PackedA.Layout? = nil,
                           minimumSeconds: Double = 0.2, minimumRepetitions: Int = 20) -> Result {
        let pool = ThreadPool(threadCount: threads)
        var rng = SplitMix64(state: UInt64(shape.m * 31 + shape.k))
        var owned: [UnsafeMutablePointer<Float>] = []
        defer { for p in owned { p.deallocate() } }
        func buffer(_ count: Int) -> UnsafeMutablePointer<Float> {
            let p = UnsafeMutablePointer<Float>.allocate(capacity: max(count, 1))
            owned.append(p)
            for i in 0..<count { p[i] = Float(rng.unitDouble() - 0.5) }
            return p
        }
        let w = buffer(shape.m * shape.k), bias = buffer(shape.m)
        // As in a model run, the weights come from outside L2 (the other layers' weights
        // evicted them) while the input was just written by the previous layer.
        let evictCount = 8 << 20, evict = buffer(evictCount)
        var input: (UnsafeMutablePointer<Float>, Int) = (evict, 0)
        let prepare = {
            for i in stride(from: 0, to: evictCount, by: 16) { evict[i] += 1 }
            var s: Float = 0
            for i in stride(from: 0, to: input.1, by: 16) { s += input.0[i] }
            if s == .infinity { evict[0] = s }
        }
        let body: () -> Void
        if let d = shape.conv {
            let x = buffer(d.inChannels * d.inHeight * d.inWidth), y = buffer(shape.m * shape.n)
            input = (x, d.inChannels * d.inHeight * d.inWidth)
            let packed = Conv2D.packWeights(d, weight: w, pool: pool)
            let acc = shape.accumulate
            if d.path == .pointwise, let layout {
                // The pointwise path's one GEMM, with the weights packed as asked.
                let a = GEMM.PackedA(m: shape.m, k: shape.k, a: w, lda: shape.k, layout: layout, pool: pool)
                body = {
                    GEMM.sgemm(a: a, n: shape.n, b: x, ldb: shape.n, c: y, ldc: shape.n, accumulate: acc,
                               bias: .perRow(bias), clamp: acc ? nil : 0...6, pool: pool)
                }
            } else { body = {
                Conv2D.forward(d, input: x, weight: w, bias: bias, output: y, clamp: acc ? nil : .relu6,
                               pool: pool, packedWeights: packed, accumulate: acc)
            } }
        } else {
            // The classifier: x[n x k] · W[m x k]^T + bias, W packed once as the engine does.
            let x = buffer(shape.n * shape.k), y = buffer(shape.n * shape.m)
            input = (x, shape.n * shape.k)
            let packed = GEMM.PackedB(k: shape.k, n: shape.m, b: w, ldb: shape.k, transB: true, pool: pool)
            body = {
                GEMM.sgemm(m: shape.n, a: x, lda: shape.k, b: packed, c: y, ldc: shape.m,
                           bias: .perColumn(bias), pool: pool)
            }
        }
        let times = BenchmarkTimer.sortedTimes(minimumSeconds: minimumSeconds,
                                               minimumRepetitions: minimumRepetitions, prepare: prepare, body)
        return Result(shape: shape, bestSeconds: times[0], medianSeconds: times[times.count / 2])
    }
}
