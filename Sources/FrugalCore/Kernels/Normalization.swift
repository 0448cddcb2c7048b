// Inference-time BatchNormalization (per channel of [N, C, ...]) and LayerNormalization
// (over the trailing dimensions from `axis`), float32, ONNX semantics.

/// Normalization kernels.
public enum Normalization {
    /// y = (x - mean[c]) / sqrt(var[c] + epsilon) * scale[c] + bias[c] for `input` viewed as
    /// [batch, channels, spatial]; `output` may equal `input`.
    public static func batchNormalization(
        input: UnsafePointer<Float>, output: UnsafeMutablePointer<Float>,
        batch: Int, channels: Int, spatial: Int,
        scale: UnsafePointer<Float>, bias: UnsafePointer<Float>, mean: UnsafePointer<Float>,
        variance: UnsafePointer<Float>, epsilon: Float, pool: ThreadPool? = nil
    ) {
        let planes = batch * channels
        if planes == 0 || spatial == 0 { return }
        KernelSupport.forRanges(planes, costPerItem: spatial / 4 + 1, pool: pool) { range in
            for p in range {
                let c = p % channels
                let a = scale[c] / (variance[c] + epsilon).squareRoot()
                let b = bias[c] - mean[c] * a
                let x = input + p * spatial, y = output + p * spatial
                for i in 0..<spatial { y[i] = x[i] * a + b }
            }
        }
    }

    /// For each of `rows` contiguous rows of `size` floats: y = (x - mean) / sqrt(var +
    /// epsilon) * scale + bias, with `scale` and `bias` (nil for none) of `size` floats.
    public static func layerNormalization(
        input: UnsafePointer<Float>, output: UnsafeMutablePointer<Float>, rows: Int, size: Int,
        scale: UnsafePointer<Float>, bias: UnsafePointer<Float>?, epsilon: Float, pool: ThreadPool? = nil
    ) {
        if rows == 0 || size == 0 { return }
        KernelSupport.forRanges(rows, costPerItem: size + 1, pool: pool) { range in
            for r in range {
                let x = input + r * size, y = output + r * size
                // Two passes (mean, then squared deviations) avoid E[x^2] - E[x]^2 cancellation.
                let mean = KernelSupport.sum(x, size) / Float(size)
                let variance = KernelSupport.sumOfSquaredDeviations(x, size, from: mean) / Float(size)
                let inv = 1 / (variance + epsilon).squareRoot()
                if let b = bias {
                    for i in 0..<size { y[i] = (x[i] - mean) * inv * scale[i] + b[i] }
                } else {
                    for i in 0..<size { y[i] = (x[i] - mean) * inv * scale[i] }
                }
            }
        }
    }

    // MARK: Tensor API

    /// ONNX BatchNormalization (inference) of [N, C, ...] with per-channel [C] parameters.
    public static func batchNormalization(
        _ x: Tensor, scale: Tensor, bias: Tensor, mean: Tensor, variance: Tensor,
        epsilon: Float = 1e-5, pool: ThreadPool? = nil
    ) throws -> Tensor {
        let op = "BatchNormalization"
        try KernelSupport.requireFloat32(x, op: op, name: "input")
        guard x.rank >= 2 else {
            throw CoreError.invalidShape("\(op): input has shape \(x.shape) but needs rank 2 or more (N, C, ...)")
        }
        let C = x.shape[1]
        for (name, t) in [("scale", scale), ("bias", bias), ("mean", mean), ("var", variance)] {
            try KernelSupport.requireFloat32(t, op: op, name: name)
            guard t.rank == 1, t.shape[0] == C else {
                throw CoreError.shapeMismatch("\(op): \(name) has shape \(t.shape) but must be [\(C)], one value per channel of input \(x.shape)")
            }
        }
        guard epsilon >= 0 else { throw CoreError.invalidArgument("\(op): epsilon \(epsilon) must not be negative") }
        var out = try Tensor(zeros: x.shape)
        let spatial = x.shape.dims.dropFirst(2).reduce(1, *)
        x.withUnsafeBufferPointer(as: Float.self) { xp in
            scale.withUnsafeBufferPointer(as: Float.self) { sp in
                bias.withUnsafeBufferPointer(as: Float.self) { bp in
                    mean.withUnsafeBufferPointer(as: Float.self) { mp in
                        variance.withUnsafeBufferPointer(as: Float.self) { vp in
                            out.withUnsafeMutableBufferPointer(as: Float.self) {
                                batchNormalization(
                                    input: xp.baseAddress!, output: $0.baseAddress!, batch: x.shape[0], channels: C,
                                    spatial: spatial, scale: sp.baseAddress!, bias: bp.baseAddress!, mean: mp.baseAddress!,
                                    variance: vp.baseAddress!, epsilon: epsilon, pool: pool)
                            }
                        }
                    }
                }
            }
        }
        return out
    }

    /// ONNX LayerNormalization: normalises over dimensions `axis...` (negative allowed);
    /// `scale` and `bias` broadcast to those dimensions.
    public static func layerNormalization(
        _ x: Tensor, scale: Tensor, bias: Tensor? = nil, axis: Int = -1, epsilon: Float = 1e-5, pool: ThreadPool? = nil
    ) throws -> Tensor {
        let op = "LayerNormalization"
        try KernelSupport.requireFloat32(x, op: op, name: "input")
        guard x.rank >= 1 else { throw CoreError.invalidShape("\(op): input is a scalar; it needs rank 1 or more") }
        let ax = try KernelSupport.normalizeAxis(axis, rank: x.rank, op: op)
        let normShape = Shape(Array(x.shape.dims[ax...]))
        let size = normShape.elementCount, rows = x.shape.dims[..<ax].reduce(1, *)
        guard epsilon >= 0 else { throw CoreError.invalidArgument("\(op): epsilon \(epsilon) must not be negative") }
        // Expand scale / bias to the normalised shape (unidirectional broadcast).
        func expanded(_ t: Tensor, _ name: String) throws -> Tensor {
            try KernelSupport.requireFloat32(t, op: op, name: name)
            let b = try? Shape.broadcast(t.shape, normShape)
            guard b == normShape else {
                throw CoreError.shapeMismatch(
                    "\(op): \(name) has shape \(t.shape), which does not broadcast to the normalised shape \(normShape) (input \(x.shape), axis \(axis))")
            }
            if t.shape == normShape { return t }
            return try Elementwise.add(t, Tensor(zeros: normShape))
        }
        let s = try expanded(scale, "scale")
        let b = try bias.map { try expanded($0, "bias") }
        var out = try Tensor(zeros: x.shape)
        x.withUnsafeBufferPointer(as: Float.self) { xp in
            s.withUnsafeBufferPointer(as: Float.self) { sp in
                out.withUnsafeMutableBufferPointer(as: Float.self) { yp in
                    if let b {
                        b.withUnsafeBufferPointer(as: Float.self) { bp in
                            layerNormalization(input: xp.baseAddress!, output: yp.baseAddress!, rows: rows, size: size,
                                               scale: sp.baseAddress!, bias: bp.baseAddress, epsilon: epsilon, pool: pool)
                        }
                    } else {
                        layerNormalization(input: xp.baseAddress!, output: yp.baseAddress!, rows: rows, size: size,
                                           scale: sp.baseAddress!, bias: nil, epsilon: epsilon, pool: pool)
                    }
                }
            }
        }
        return out
    }
}
