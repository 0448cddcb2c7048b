// ArgMax / ArgMin along one axis (ONNX semantics: int64 indices, keepdims,
// select_last_index). The input is viewed as [outer, axis, inner]; with inner > 1 the
// comparison runs across a contiguous tile of the inner dimension.

/// Index-of-extreme kernels.
public enum ArgReduce {
    /// Writes, for each of `outer * inner` positions, the index along the axis (length
    /// `axisLength` >= 1) of the largest (`max`) or smallest value; ties pick the first index
    /// unless `selectLastIndex`. NaNs are ignored unless every value is NaN (index 0).
    public static func argExtreme(
        max: Bool, selectLastIndex: Bool, input: UnsafePointer<Float>,
        outer: Int, axisLength: Int, inner: Int, output: UnsafeMutablePointer<Int64>, pool: ThreadPool? = nil
    ) {
        if outer == 0 || inner == 0 || axisLength == 0 { return }
        let tile = 256
        let tiles = (inner + tile - 1) / tile
        KernelSupport.forRanges(outer * tiles, costPerItem: axisLength * Swift.min(inner, tile) / 2 + 1, pool: pool) { range in
            withUnsafeTemporaryAllocation(of: Float.self, capacity: tile) { bestBuf in
                let best = bestBuf.baseAddress!
                for item in range {
                    let o = item / tiles, t = item % tiles
                    let lo = t * tile, n = Swift.min(tile, inner - lo)
                    let src = input + o * axisLength * inner + lo
                    let dst = output + o * inner + lo
                    for j in 0..<n { best[j] = src[j]; dst[j] = 0 }
                    for a in 1..<Swift.max(1, axisLength) {
                        let row = src + a * inner
                        let ai = Int64(a)
                        // Strictly better, or equal when the last index wins, or replacing a NaN.
                        switch (max, selectLastIndex) {
                        case (true, false):
                            for j in 0..<n { let v = row[j]; if v > best[j] || best[j].isNaN && !v.isNaN { best[j] = v; dst[j] = ai } }
                        case (true, true):
                            for j in 0..<n { let v = row[j]; if v >= best[j] || best[j].isNaN && !v.isNaN { best[j] = v; dst[j] = ai } }
                        case (false, false):
                            for j in 0..<n { let v = row[j]; if v < best[j] || best[j].isNaN && !v.isNaN { best[j] = v; dst[j] = ai } }
                        case (false, true):
                            for j in 0..<n { let v = row[j]; if v <= best[j] || best[j].isNaN && !v.isNaN { best[j] = v; dst[j] = ai } }
                        }
                    }
                }
            }
        }
    }

    /// ONNX ArgMax / ArgMin of a float32 tensor along `axis` (negative allowed), int64 result.
    public static func argExtreme(
        max: Bool, _ x: Tensor, axis: Int, keepDims: Bool = true, selectLastIndex: Bool = false, pool: ThreadPool? = nil
    ) throws -> Tensor {
        let name = max ? "ArgMax" : "ArgMin"
        try KernelSupport.requireFloat32(x, op: name, name: "input")
        guard x.rank >= 1 else { throw CoreError.invalidShape("\(name): input is a scalar; it needs rank 1 or more") }
        let ax = try KernelSupport.normalizeAxis(axis, rank: x.rank, op: name)
        let dims = x.shape.dims
        let outer = dims[..<ax].reduce(1, *), inner = dims[(ax + 1)...].reduce(1, *), len = dims[ax]
        var outDims = dims
        if keepDims { outDims[ax] = 1 } else { outDims.remove(at: ax) }
        if len == 0 && outer * inner > 0 {
            throw CoreError.invalidShape("\(name): axis \(axis) of input \(x.shape) is empty, so there is no index to return; reduce over a non-empty axis")
        }
        var out = try Tensor(zeros: Shape(outDims), dtype: .int64)
        x.withUnsafeBufferPointer(as: Float.self) { xp in
            out.withUnsafeMutableBufferPointer(as: Int64.self) {
                argExtreme(max: max, selectLastIndex: selectLastIndex, input: xp.baseAddress!, outer: outer,
                           axisLength: len, inner: inner, output: $0.baseAddress!, pool: pool)
            }
        }
        return out
    }

    /// ONNX ArgMax along `axis`.
    public static func argMax(_ x: Tensor, axis: Int = 0, keepDims: Bool = true, selectLastIndex: Bool = false, pool: ThreadPool? = nil) throws -> Tensor {
        try argExtreme(max: true, x, axis: axis, keepDims: keepDims, selectLastIndex: selectLastIndex, pool: pool)
    }

    /// ONNX ArgMin along `axis`.
    public static func argMin(_ x: Tensor, axis: Int = 0, keepDims: Bool = true, selectLastIndex: Bool = false, pool: ThreadPool? = nil) throws -> Tensor {
        try argExtreme(max: false, x, axis: axis, keepDims: keepDims, selectLastIndex: selectLastIndex, pool: pool)
    }
}
