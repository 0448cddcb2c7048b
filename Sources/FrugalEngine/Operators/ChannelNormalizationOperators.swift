import FrugalCore
import Foundation

/// LRN (local response normalization across channels, as in AlexNet and GoogLeNet),
/// MeanVarianceNormalization and RMSNormalization (opset 23), float32.
enum ChannelNormalizationOperators {
    static let schemas: [OperatorSchema] = [
        OperatorSchema("LRN", since: 1, dtypes: .floats) { try lrn($0) },
        OperatorSchema("MeanVarianceNormalization", since: 9, dtypes: .floats) { try meanVariance($0) },
        OperatorSchema("RMSNormalization", since: 23, dtypes: .floats) { try rms($0) },
    ]

    /// y = x / (bias + alpha / size · Σ x²)^beta, the sum over the `size` channels centred on
    /// each one (floor((size − 1) / 2) before, ceil((size − 1) / 2) after), clipped at the ends.
    static func lrn(_ call: OpCall) throws -> [Tensor] {
        let node = call.node
        let x = try call.floatInput(0, "X")
        guard x.rank >= 3 else { throw call.fail("X has shape \(x.shape); LRN needs (N, C, spatial...)") }
        guard let size = try node.int("size"), size >= 1 else { throw call.fail("attribute 'size' is required and must be at least 1") }
        let alpha = try node.float("alpha", default: 1e-4), beta = try node.float("beta", default: 0.75)
        let bias = try node.float("bias", default: 1)
        let n = x.shape[0], c = x.shape[1], inner = x.shape.dims[2...].reduce(1, *)
        let before = (size - 1) / 2, after = size - 1 - before
        var y = try call.newOutput(x.shape.dims)
        let xp = x.floatPointer, yp = y.mutableFloatPointer()
        let scale = alpha / Float(size)
        call.context.pool.parallelChunks(n * c) { range in
            for nc in range {
                let (b, ch) = (nc / c, nc % c)
                let lo = max(0, ch - before), hi = min(c - 1, ch + after)
                let src = xp + nc * inner, dst = yp + nc * inner
                for i in 0..<inner {
                    var sum: Float = 0
                    for k in lo...hi {
                        let v = xp[(b * c + k) * inner + i]
                        sum += v * v
                    }
                    dst[i] = src[i] / Foundation.pow(bias + scale * sum, beta)
                }
            }
        }
        return [y]
    }

    /// (x − mean) / (sqrt(E[x²] − mean²) + 1e-9) over `axes` (default [0, 2, 3]), as the
    /// op's function body defines it.
    static func meanVariance(_ call: OpCall) throws -> [Tensor] {
        let x = try call.floatInput(0, "X")
        let axes = try call.axes(try call.node.ints("axes") ?? [0, 2, 3], rank: x.rank)
        let dims = x.shape.dims
        // Iterate as (kept index, reduced index): strides of the kept and reduced axes.
        let strides = x.shape.strides
        let kept = (0..<x.rank).filter { !axes.contains($0) }
        let keptCount = kept.map { dims[$0] }.reduce(1, *), reducedCount = axes.map { dims[$0] }.reduce(1, *)
        func offsets(_ list: [Int]) -> [Int] {
            var out = [0]
            for a in list {
                var next: [Int] = []
                next.reserveCapacity(out.count * dims[a])
                for o in out { for i in 0..<dims[a] { next.append(o + i * strides[a]) } }
                out = next
            }
            return out
        }
        let keptOffsets = offsets(kept), reducedOffsets = offsets(axes)
        var y = try call.newOutput(dims)
        let xp = x.floatPointer, yp = y.mutableFloatPointer()
        if reducedCount == 0 { return [y] }
        for k in 0..<keptCount {
            let base = keptOffsets[k]
            var s = 0.0, s2 = 0.0
            for r in reducedOffsets {
                let v = Double(xp[base + r])
                s += v
                s2 += v * v
            }
            let mean = s / Double(reducedCount)
            let std = max(s2 / Double(reducedCount) - mean * mean, 0).squareRoot()
            for r in reducedOffsets { yp[base + r] = Float((Double(xp[base + r]) - mean) / (std + 1e-9)) }
        }
        return [y]
    }

    /// y = x / sqrt(mean(x²) + epsilon) · scale, the mean over the axes from `axis` to the last.
    static func rms(_ call: OpCall) throws -> [Tensor] {
        let node = call.node
        let x = try call.floatInput(0, "X")
        guard x.rank >= 1 else { throw call.fail("X is a scalar; it needs rank 1 or more") }
        let ax = try call.axis(try node.int("axis", default: -1), rank: x.rank)
        let eps = try node.float("epsilon", default: 1e-5)
        let normShape = Shape(Array(x.shape.dims[ax...]))
        let scaleT = try call.floatInput(1, "scale")
        guard (try? Shape.broadcast(scaleT.shape, normShape)) == normShape else {
            throw call.fail("scale has shape \(scaleT.shape), which does not broadcast to the normalised shape \(normShape)")
        }
        let scale = scaleT.shape == normShape ? scaleT : try call.kernel { try Elementwise.add(scaleT, Tensor(zeros: normShape)) }
        let rows = x.shape.dims[..<ax].reduce(1, *), size = normShape.elementCount
        var y = try call.newOutput(x.shape.dims)
        let xp = x.floatPointer, yp = y.mutableFloatPointer(), sp = scale.floatPointer
        call.context.pool.parallelChunks(rows) { range in
            for r in range {
                let src = xp + r * size, dst = yp + r * size
                var s = 0.0
                for i in 0..<size { s += Double(src[i]) * Double(src[i]) }
                let inv = Float(1 / (s / Double(max(size, 1)) + Double(eps)).squareRoot())
                for i in 0..<size { dst[i] = src[i] * inv * sp[i] }
            }
        }
        return [y]
    }
}
