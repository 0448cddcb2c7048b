import Foundation
import FrugalCore
import FrugalEngine

/// Forward passes of pooling and normalisation for training (their derivatives are in
/// Derivatives.swift).
enum Spatial {
    static func pool(_ x: OpInputs, _ ctx: TapeContext) throws -> ([TapeValue?], SavedState) {
        let a = try x.float(0)
        let node = x.node
        let global = node.opType.hasPrefix("Global")
        let isMax = node.opType.hasSuffix("MaxPool")
        if global {
            guard a.shape.count >= 3 else { throw TrainingError.model("node '\(node.name)' (\(node.opType)): input \(a.shape) needs rank 3 or more") }
            let nc = a.shape[0] * a.shape[1], hw = a.count / max(nc, 1)
            let y = FloatBuffer(uninitialized: [a.shape[0], a.shape[1]] + [Int](repeating: 1, count: a.shape.count - 2))
            var idx = [Int32](repeating: 0, count: isMax ? nc : 0)
            for i in 0..<nc {
                let p = a.p + i * hw
                if isMax {
                    var best = 0
                    for j in 1..<max(hw, 1) where p[j] > p[best] { best = j }
                    y.p[i] = p[best]; idx[i] = Int32(i * hw + best)
                } else {
                    var s: Float = 0
                    for j in 0..<hw { s += p[j] }
                    y.p[i] = s / Float(hw)
                }
            }
            return ([.float(y)], isMax ? .indices(idx) : .none)
        }
        let d = try TK.poolDescriptor(node, x: a.shape)
        let oH = d.outHeight, oW = d.outWidth, H = d.inHeight, W = d.inWidth
        let y = FloatBuffer(uninitialized: d.outputShape.dims)
        var idx = [Int32](unsafeUninitializedCapacity: isMax ? y.count : 0) { _, n in n = isMax ? y.count : 0 }
        let includePad = try node.int("count_include_pad", default: 0) != 0
        if isMax && d.padTop == 0 && d.padLeft == 0 && d.dilationHeight == 1 && d.dilationWidth == 1
            && (oH - 1) * d.strideHeight + d.kernelHeight <= H && (oW - 1) * d.strideWidth + d.kernelWidth <= W {
            // Every window inside the input: no range checks. Planes in parallel.
            let kH = d.kernelHeight, kW = d.kernelWidth, sH = d.strideHeight, sW = d.strideWidth
            let planes = d.batch * d.channels
            idx.withUnsafeMutableBufferPointer { ip in
                ctx.pool.parallelChunks(planes, minimumChunk: max(1, 4096 / max(1, oH * oW))) { range in for plane in range {
                    let src = a.p + plane * H * W, base = Int32(plane * H * W)
                    for oh in 0..<oH {
                        // Branch-free selects (ties keep the first tap), no overflow checks.
                        let yr = y.p + (plane * oH + oh) * oW, ir = ip.baseAddress! + (plane * oH + oh) * oW
                        for ow in 0..<oW {
                            let corner = (oh &* sH) &* W &+ ow &* sW
                            var best = src[corner], bi = corner
                            for kh in 0..<kH {
                                let rs = corner &+ kh &* W
                                for kw in 0..<kW {
                                    let i = rs &+ kw, v = src[i], better = v > best
                                    best = better ? v : best
                                    bi = better ? i : bi
                                }
                            }
                            yr[ow] = best
                            ir[ow] = base &+ Int32(truncatingIfNeeded: bi)
                        }
                    }
                } }
            }
            return ([.float(y)], .indices(idx))
        }
        for plane in 0..<(d.batch * d.channels) {
            let src = a.p + plane * H * W
            for oh in 0..<oH {
                let h0 = oh * d.strideHeight - d.padTop
                let hr = tapRange(h0, H, d.kernelHeight, d.dilationHeight)
                for ow in 0..<oW {
                    let w0 = ow * d.strideWidth - d.padLeft
                    let wr = tapRange(w0, W, d.kernelWidth, d.dilationWidth)
                    let o = (plane * oH + oh) * oW + ow
                    if isMax {
                        var best = -Float.infinity, bi = -1
                        for kh in hr { for kw in wr {
                            let i = (h0 + kh * d.dilationHeight) * W + w0 + kw * d.dilationWidth
                            if src[i] > best || bi < 0 { best = src[i]; bi = i }
                        } }
                        y.p[o] = best
                        idx[o] = Int32(bi < 0 ? -1 : plane * H * W + bi)
                    } else {
                        var s: Float = 0
                        for kh in hr { for kw in wr { s += src[(h0 + kh * d.dilationHeight) * W + w0 + kw * d.dilationWidth] } }
                        y.p[o] = s / Float(avgCount(d, h0: h0, w0: w0, hr: hr, wr: wr, includePad: includePad))
                    }
                }
            }
        }
        return ([.float(y)], isMax ? .indices(idx) : .none)
    }

    /// Taps k in 0..<kernel with start + k·dilation inside 0..<extent.
    @inline(__always)
    static func tapRange(_ start: Int, _ extent: Int, _ kernel: Int, _ dilation: Int) -> Range<Int> {
        var lo = 0, hi = kernel
        while lo < kernel && start + lo * dilation < 0 { lo += 1 }
        while hi > lo && start + (hi - 1) * dilation >= extent { hi -= 1 }
        return lo..<hi
    }

    /// The divisor of an average-pool window (ONNX: padding counts only with count_include_pad,
    /// and never the part of a ceil-mode window past the padded input).
    static func avgCount(_ d: Pool2DDescriptor, h0: Int, w0: Int, hr: Range<Int>, wr: Range<Int>, includePad: Bool) -> Int {
        if !includePad { return max(1, hr.count * wr.count) }
        let hEnd = min(h0 + d.kernelHeight, d.inHeight + d.padBottom), wEnd = min(w0 + d.kernelWidth, d.inWidth + d.padRight)
        return max(1, (hEnd - h0) * (wEnd - w0))
    }
}

enum Normalize {
    /// BatchNormalization: batch statistics in training (and the running-statistics update with
    /// `momentum`: running = running·momentum + batch·(1 − momentum), unbiased variance),
    /// running statistics in inference.
    static func batchNorm(_ x: OpInputs, _ ctx: TapeContext) throws -> ([TapeValue?], SavedState) {
        let a = try x.float(0), scale = try x.float(1), bias = try x.float(2)
        let runMean = try x.float(3), runVar = try x.float(4)
        let eps = try x.node.float("epsilon", default: 1e-5), momentum = try x.node.float("momentum", default: 0.9)
        guard a.shape.count >= 2 else { throw TrainingError.model("node '\(x.node.name)' (BatchNormalization): input \(a.shape) needs rank 2 or more") }
        let N = a.shape[0], C = a.shape[1], S = a.count / max(N * C, 1)
        var mean = [Float](repeating: 0, count: C), invStd = [Float](repeating: 0, count: C)
        if ctx.training {
            let count = Double(N * S)
            let newMean = FloatBuffer(uninitialized: [C]), newVar = FloatBuffer(uninitialized: [C])
            for c in 0..<C {
                var s = 0.0
                for n in 0..<N { let p = a.p + (n * C + c) * S; for i in 0..<S { s += Double(p[i]) } }
                let m = s / count
                var v = 0.0
                for n in 0..<N { let p = a.p + (n * C + c) * S; for i in 0..<S { let t = Double(p[i]) - m; v += t * t } }
                let varBiased = v / count
                mean[c] = Float(m)
                invStd[c] = Float(1 / (varBiased + Double(eps)).squareRoot())
                newMean.p[c] = runMean.p[c] * momentum + Float(m) * (1 - momentum)
                newVar.p[c] = runVar.p[c] * momentum + Float(v / max(count - 1, 1)) * (1 - momentum)
            }
            if x.node.inputs.count > 4 {
                ctx.stateUpdates[x.node.inputs[3]] = newMean
                ctx.stateUpdates[x.node.inputs[4]] = newVar
            }
        } else {
            for c in 0..<C { mean[c] = runMean.p[c]; invStd[c] = 1 / (runVar.p[c] + eps).squareRoot() }
        }
        let y = FloatBuffer(uninitialized: a.shape)
        for n in 0..<N {
            for c in 0..<C {
                let k = scale.p[c] * invStd[c], b = bias.p[c] - mean[c] * k
                let src = a.p + (n * C + c) * S, dst = y.p + (n * C + c) * S
                for i in 0..<S { dst[i] = src[i] * k + b }
            }
        }
        return ([.float(y)], .statistics(mean: mean, invStd: invStd))
    }

    /// Rows and row length of LayerNormalization over axes `axis...`.
    static func layerDims(_ node: Node, _ shape: [Int]) throws -> (Int, Int) {
        let axis = try TK.axis(try node.int("axis", default: -1), rank: shape.count, node)
        let len = shape[axis...].reduce(1, *)
        return (shape.reduce(1, *) / max(len, 1), len)
    }

    static func layerNorm(_ x: OpInputs) throws -> ([TapeValue?], SavedState) {
        let a = try x.float(0), scale = try x.float(1), bias = try x.optionalFloat(2)
        let eps = try x.node.float("epsilon", default: 1e-5)
        let (rows, len) = try layerDims(x.node, a.shape)
        guard scale.count == len, bias == nil || bias!.count == len else {
            throw TrainingError.model("node '\(x.node.name)' (LayerNormalization): scale \(scale.shape) must hold one value per normalised element (\(len))")
        }
        var mean = [Float](repeating: 0, count: rows), invStd = [Float](repeating: 0, count: rows)
        let y = FloatBuffer(uninitialized: a.shape)
        for r in 0..<rows {
            let p = a.p + r * len, q = y.p + r * len
            var s: Float = 0
            for i in 0..<len { s += p[i] }
            let m = s / Float(len)
            var v: Float = 0
            for i in 0..<len { let t = p[i] - m; v += t * t }
            let inv = 1 / (v / Float(len) + eps).squareRoot()
            mean[r] = m; invStd[r] = inv
            for i in 0..<len { q[i] = (p[i] - m) * inv * scale.p[i] + (bias?.p[i] ?? 0) }
        }
        return ([.float(y)], .statistics(mean: mean, invStd: invStd))
    }
}
