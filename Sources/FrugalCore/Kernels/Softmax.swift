import Foundation

// Softmax and LogSoftmax along one axis (ONNX opset 13), numerically stable: the maximum
// along the axis is subtracted before exponentiating. The input is viewed as
// [outer, axis, inner]. For inner == 1 each row is contiguous; otherwise the axis is
// strided and the kernel works on tiles of the inner dimension with per-column max and sum
// held in a small stack buffer.

/// Softmax kernels.
public enum Softmax {
    /// Softmax (or, with `log`, LogSoftmax) of `input` viewed as [outer, axisLength, inner],
    /// along the middle dimension, into `output` (which may equal `input`).
    public static func softmax(
        log: Bool, input: UnsafePointer<Float>, output: UnsafeMutablePointer<Float>,
        outer: Int, axisLength: Int, inner: Int, pool: ThreadPool? = nil
    ) {
        let L = axisLength
        if outer == 0 || inner == 0 || L == 0 { return }
        if inner == 1 {
            KernelSupport.forRanges(outer, costPerItem: 4 * L, pool: pool) { range in
                for o in range { row(log: log, input + o * L, output + o * L, L) }
            }
            return
        }
        let tile = 128
        let tiles = (inner + tile - 1) / tile
        KernelSupport.forRanges(outer * tiles, costPerItem: 4 * L * Swift.min(inner, tile), pool: pool) { range in
            withUnsafeTemporaryAllocation(of: Float.self, capacity: 2 * tile) { buf in
                let mx = buf.baseAddress!, sm = mx + tile
                for item in range {
                    let o = item / tiles, lo = (item % tiles) * tile
                    let n = Swift.min(tile, inner - lo)
                    let src = input + o * L * inner + lo
                    let dst = output + o * L * inner + lo
                    for j in 0..<n { mx[j] = -.infinity; sm[j] = 0 }
                    for a in 0..<L {
                        let r = src + a * inner
                        for j in 0..<n { let v = r[j]; mx[j] = v > mx[j] || v.isNaN ? v : mx[j] }
                    }
                    for j in 0..<n where mx[j] == -.infinity { mx[j] = 0 }  // all -inf: avoid inf - inf
                    for a in 0..<L {
                        let r = src + a * inner, w = dst + a * inner
                        for j in 0..<n {
                            let e = Unary.exp(r[j] - mx[j])
                            sm[j] += e
                            if !log { w[j] = e }
                        }
                    }
                    if log {
                        // (x - max) - log(sum) keeps the small difference exact for large x.
                        for j in 0..<n { sm[j] = Foundation.log(sm[j]) }
                        for a in 0..<L {
                            let r = src + a * inner, w = dst + a * inner
                            for j in 0..<n { w[j] = (r[j] - mx[j]) - sm[j] }
                        }
                    } else {
                        for j in 0..<n { sm[j] = 1 / sm[j] }
                        for a in 0..<L {
                            let w = dst + a * inner
                            for j in 0..<n { w[j] *= sm[j] }
                        }
                    }
                }
            }
        }
    }

    /// One contiguous row.
    @inline(__always)
    static func row(log: Bool, _ x: UnsafePointer<Float>, _ y: UnsafeMutablePointer<Float>, _ n: Int) {
        var m = KernelSupport.maximum(x, n)
        if m == -.infinity { m = 0 }
        if log {
            var s: Float = 0
            for i in 0..<n { s += Unary.exp(x[i] - m) }
            let logSum = Foundation.log(s)
            for i in 0..<n { y[i] = (x[i] - m) - logSum }
        } else {
            for i in 0..<n { y[i] = Unary.exp(x[i] - m) }
            let inv = 1 / KernelSupport.sum(UnsafePointer(y), n)
            for i in 0..<n { y[i] *= inv }
        }
    }

    // MARK: Tensor API

    static func run(log: Bool, _ x: Tensor, axis: Int, pool: ThreadPool?) throws -> Tensor {
        let name = log ? "LogSoftmax" : "Softmax"
        try KernelSupport.requireFloat32(x, op: name, name: "input")
        guard x.rank >= 1 else { throw CoreError.invalidShape("\(name): input is a scalar; it needs rank 1 or more") }
        let ax = try KernelSupport.normalizeAxis(axis, rank: x.rank, op: name)
        let dims = x.shape.dims
        let outer = dims[..<ax].reduce(1, *), inner = dims[(ax + 1)...].reduce(1, *)
        var out = try Tensor(zeros: x.shape)
        x.withUnsafeBufferPointer(as: Float.self) { xp in
            out.withUnsafeMutableBufferPointer(as: Float.self) {
                softmax(log: log, input: xp.baseAddress!, output: $0.baseAddress!, outer: outer, axisLength: dims[ax], inner: inner, pool: pool)
            }
        }
        return out
    }

    /// ONNX Softmax (opset 13) of a float32 tensor along `axis` (default -1).
    public static func softmax(_ x: Tensor, axis: Int = -1, pool: ThreadPool? = nil) throws -> Tensor {
        try run(log: false, x, axis: axis, pool: pool)
    }

    /// ONNX LogSoftmax (opset 13) of a float32 tensor along `axis` (default -1).
    public static func logSoftmax(_ x: Tensor, axis: Int = -1, pool: ThreadPool? = nil) throws -> Tensor {
        try run(log: true, x, axis: axis, pool: pool)
    }
}
