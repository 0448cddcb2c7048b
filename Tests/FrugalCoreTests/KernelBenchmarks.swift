import Foundation
import FrugalCore
import Testing

/// Timings of representative layers; run with FRUGAL_BENCH=1 (skipped otherwise).
@Suite(.enabled(if: ProcessInfo.processInfo.environment["FRUGAL_BENCH"] != nil))
struct KernelBenchmarks {
    func time(_ label: String, flops: Double? = nil, bytes: Double? = nil, reps: Int = 20, _ body: () throws -> Void) rethrows {
        try body()  // warm up
        var best = Double.infinity
        for _ in 0..<reps {
            let t0 = DispatchTime.now().uptimeNanoseconds
            try body()
            best = min(best, Double(DispatchTime.now().uptimeNanoseconds - t0))
        }
        var line = "\(label): \(String(format: "%.1f", best / 1000)) µs"
        if let f = flops { line += String(format: ", %.2f GFLOP/s", f / best) }
        if let b = bytes { line += String(format: ", %.2f GB/s", b / best) }
        print(line)
    }

    @Test func layers() throws {
        var rng = TestRNG(seed: 1)
        let pools: [(String, ThreadPool?)] = [("1T", nil), ("2T", ThreadPool(threadCount: 2))]
        for (name, pool) in pools {
            // MobileNet-v1/v2 depthwise layers: 112x112x32 s1, 56x56x128 s1, 112x112x64 s2, 14x14x512 s1.
            for (c, hw, s) in [(32, 112, 1), (128, 56, 1), (64, 112, 2), (512, 14, 1)] {
                let x = rng.tensor([1, c, hw, hw]), w = rng.tensor([c, 1, 3, 3]), b = rng.tensor([c])
                let o = (hw - 1) / s + 1
                try time("\(name) depthwise 3x3 s\(s) \(hw)x\(hw)x\(c)", flops: 2.0 * 9 * Double(c * o * o)) {
                    _ = try Conv2D.conv2d(x, weight: w, bias: b, strides: [s, s], pads: [1, 1, 1, 1], groups: c, clamp: .relu6, pool: pool)
                }
            }
            let x5 = rng.tensor([1, 240, 28, 28]), w5 = rng.tensor([240, 1, 5, 5])
            try time("\(name) depthwise 5x5 s1 28x28x240", flops: 2.0 * 25 * 240 * 28 * 28) {
                _ = try Conv2D.conv2d(x5, weight: w5, pads: [2, 2, 2, 2], groups: 240, pool: pool)
            }
            let big = rng.tensor([1, 64, 112, 112]), ch = rng.tensor([1, 64, 1, 1])
            let n = Double(big.elementCount)
            try time("\(name) add same shape 802816", bytes: 12 * n) { _ = try Elementwise.add(big, big, pool: pool) }
            try time("\(name) mul per-channel 802816", bytes: 8 * n) { _ = try Elementwise.mul(big, ch, pool: pool) }
            for op in [UnaryOp.relu, .sigmoid, .silu, .tanh, .gelu] {
                try time("\(name) \(op) 802816", bytes: 8 * n) { _ = try Unary.apply(op, big, pool: pool) }
            }
            try time("\(name) maxpool 3x3 s2 112x112x64", bytes: 4 * n) {
                _ = try Pooling.maxPool2D(big, kernel: [3, 3], strides: [2, 2], pads: [1, 1, 1, 1], pool: pool)
            }
            try time("\(name) global avg pool 112x112x64", bytes: 4 * n) { _ = try Pooling.globalAveragePool(big, pool: pool) }
            try time("\(name) reduce mean axes [2,3]", bytes: 4 * n) { _ = try Reduction.reduce(.mean, big, axes: [2, 3], pool: pool) }
            try time("\(name) reduce sum axis 1", bytes: 4 * n) { _ = try Reduction.reduce(.sum, big, axes: [1], pool: pool) }
            let logits = rng.tensor([64, 1000])
            try time("\(name) softmax 64x1000", bytes: 8 * 64_000) { _ = try Softmax.softmax(logits, pool: pool) }
            let seq = rng.tensor([128, 768]), g = rng.tensor([768])
            try time("\(name) layernorm 128x768", bytes: 8 * 128 * 768) { _ = try Normalization.layerNormalization(seq, scale: g, bias: g, pool: pool) }
            let m = rng.tensor([64]), v = rng.tensor([64], 0.5, 1)
            try time("\(name) batchnorm 112x112x64", bytes: 8 * n) {
                _ = try Normalization.batchNormalization(big, scale: m, bias: m, mean: m, variance: v, pool: pool)
            }
        }
    }

    /// ThreadPool dispatch: an empty 2-task job back to back (workers spinning), after a
    /// 100 µs gap (still spinning), and after a 2 ms gap (workers parked, woken by signal).
    @Test func threadPoolDispatch() {
        let pool = ThreadPool(threadCount: 2)
        func gap(_ ns: UInt64) {
            let t = DispatchTime.now().uptimeNanoseconds
            while DispatchTime.now().uptimeNanoseconds - t < ns {}
        }
        for (label, pause) in [("back to back", UInt64(0)), ("after 100 us", 100_000), ("after 2 ms (parked)", 2_000_000)] {
            var samples: [Double] = []
            for _ in 0..<200 {
                gap(pause)
                let t0 = DispatchTime.now().uptimeNanoseconds
                pool.parallelFor(2) { _ in }
                samples.append(Double(DispatchTime.now().uptimeNanoseconds - t0) / 1000)
            }
            samples.sort()
            print("thread pool dispatch \(label): median \(String(format: "%.2f", samples[100])) µs, p90 \(String(format: "%.2f", samples[180])) µs")
        }
    }
}
