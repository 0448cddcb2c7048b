import FrugalCore

/// BatchNormalization (inference, and training_mode's batch statistics with running
/// mean/var outputs), InstanceNormalization, LayerNormalization (with Mean / InvStdDev),
/// GroupNormalization (opset 21: per-channel scale and bias) and LpNormalization, float32.
enum NormalizationOperators {
    static let schemas: [OperatorSchema] = [
        OperatorSchema("BatchNormalization", since: 7, dtypes: .floats) { try batchNorm($0) },
        OperatorSchema("InstanceNormalization", since: 6, dtypes: .floats) { try instanceNorm($0) },
        OperatorSchema("LayerNormalization", since: 17, dtypes: .floats) { try layerNorm($0) },
        OperatorSchema("GroupNormalization", since: 21, dtypes: .floats) { try groupNorm($0) },
        OperatorSchema("LpNormalization", since: 1, dtypes: .floats) { try lpNorm($0) },
    ]

    /// Input `i` as a float32 vector of `count` values.
    static func vector(_ call: OpCall, _ i: Int, _ name: String, count: Int) throws -> UnsafePointer<Float> {
        let t = try call.floatInput(i, name)
        guard t.elementCount == count, t.rank <= 1 || t.shape.dims.filter({ $0 != 1 }).count <= 1 else {
            throw call.fail("\(name) has shape \(t.shape) but must hold \(count) values, one per channel")
        }
        return t.floatPointer
    }

    /// Mean and population variance of `n` floats (two passes).
    @inline(__always)
    static func moments(_ p: UnsafePointer<Float>, _ n: Int) -> (Float, Float) {
        if n == 0 { return (.nan, .nan) }
        var s: Double = 0
        for i in 0..<n { s += Double(p[i]) }
        let mean = s / Double(n)
        var v: Double = 0
        for i in 0..<n { let d = Double(p[i]) - mean; v += d * d }
        return (Float(mean), Float(v / Double(n)))
    }

    static func batchNorm(_ call: OpCall) throws -> [Tensor] {
        let node = call.node
        let x = try call.floatInput(0, "X")
        guard x.rank >= 2 else { throw call.fail("X has shape \(x.shape); it needs rank 2 or more (N, C, ...)") }
        if try node.int("spatial", default: 1) != 1 { throw call.fail("spatial = 0 (per-activation statistics) is not supported") }
        let N = x.shape[0], C = x.shape[1], S = x.shape.dims.dropFirst(2).reduce(1, *)
        let eps = try node.float("epsilon", default: 1e-5)
        let scale = try vector(call, 1, "scale", count: C), bias = try vector(call, 2, "B", count: C)
        let mean = try vector(call, 3, "input_mean", count: C), variance = try vector(call, 4, "input_var", count: C)
        var y = try call.newOutput(x.shape.dims)
        let yp = y.mutableFloatPointer(), xp = x.floatPointer
        let training = try node.int("training_mode", default: 0) != 0
        if !training {
            let extra = node.outputs.dropFirst().contains { !$0.isEmpty }
            if extra { throw call.fail("outputs beyond Y need training_mode = 1") }
            Normalization.batchNormalization(input: xp, output: yp, batch: N, channels: C, spatial: S, scale: scale, bias: bias,
                                             mean: mean, variance: variance, epsilon: eps, pool: call.context.pool)
            return [y]
        }
        // Training mode: normalise with the batch's statistics; update the running ones.
        let momentum = try node.float("momentum", default: 0.9)
        var batchMean = [Float](repeating: 0, count: C), batchVar = [Float](repeating: 0, count: C)
        for c in 0..<C {
            var s: Double = 0
            for n in 0..<N { let p = xp + (n * C + c) * S; for i in 0..<S { s += Double(p[i]) } }
            let m = s / Double(max(N * S, 1))
            var v: Double = 0
            for n in 0..<N { let p = xp + (n * C + c) * S; for i in 0..<S { let d = Double(p[i]) - m; v += d * d } }
            batchMean[c] = Float(m)
            batchVar[c] = Float(v / Double(max(N * S, 1)))
        }
        Normalization.batchNormalization(input: xp, output: yp, batch: N, channels: C, spatial: S, scale: scale, bias: bias,
                                         mean: batchMean, variance: batchVar, epsilon: eps, pool: call.context.pool)
        let runningMean = try Tensor(shape: [C], scalars: (0..<C).map { mean[$0] * momentum + batchMean[$0] * (1 - momentum) })
        let runningVar = try Tensor(shape: [C], scalars: (0..<C).map { variance[$0] * momentum + batchVar[$0] * (1 - momentum) })
        return [y, runningMean, runningVar]
    }

    static func instanceNorm(_ call: OpCall) throws -> [Tensor] {
        let x = try call.floatInput(0, "input")
        guard x.rank >= 3 else { throw call.fail("input has shape \(x.shape); it needs rank 3 or more (N, C, spatial...)") }
        let N = x.shape[0], C = x.shape[1], S = x.shape.dims.dropFirst(2).reduce(1, *)
        let scale = try vector(call, 1, "scale", count: C), bias = try vector(call, 2, "B", count: C)
        let eps = try call.node.float("epsilon", default: 1e-5)
        var y = try call.newOutput(x.shape.dims)
        let yp = y.mutableFloatPointer(), xp = x.floatPointer
        call.context.pool.parallelChunks(N * C) { range in
            for p in range {
                let c = p % C, src = xp + p * S, dst = yp + p * S
                let (m, v) = moments(src, S)
                let a = scale[c] / (v + eps).squareRoot(), b = bias[c] - m * a
                for i in 0..<S { dst[i] = src[i] * a + b }
            }
        }
        return [y]
    }

    static func layerNorm(_ call: OpCall) throws -> [Tensor] {
        let node = call.node
        let x = try call.floatInput(0, "X")
        guard x.rank >= 1 else { throw call.fail("X is a scalar; it needs rank 1 or more") }
        let axis = try node.int("axis", default: -1)
        guard axis >= -x.rank, axis < x.rank else { throw call.fail("axis \(axis) is out of range for X of rank \(x.rank)") }
        let ax = axis < 0 ? axis + x.rank : axis
        let eps = try node.float("epsilon", default: 1e-5)
        let normShape = Shape(Array(x.shape.dims[ax...]))
        let rows = x.shape.dims[..<ax].reduce(1, *), size = normShape.elementCount
        func expanded(_ i: Int, _ name: String) throws -> Tensor? {
            guard let t = call.optionalInput(i) else { return nil }
            guard t.dtype == .float32 else { throw call.fail("\(name) is \(t.dtype); only float32 is supported") }
            guard (try? Shape.broadcast(t.shape, normShape)) == normShape else {
                throw call.fail("\(name) has shape \(t.shape), which does not broadcast to the normalised shape \(normShape) (X \(x.shape), axis \(axis))")
            }
            return t.shape == normShape ? t : try call.kernel { try Elementwise.add(t, Tensor(zeros: normShape)) }
        }
        guard let scale = try expanded(1, "Scale") else { throw call.fail("input 1 (Scale) is required but missing") }
        let bias = try expanded(2, "B")
        var y = try call.newOutput(x.shape.dims)
        let statDims = Array(x.shape.dims[..<ax]) + Array(repeating: 1, count: x.rank - ax)
        var meanT = try call.newOutput(statDims), invT = try call.newOutput(statDims)
        let yp = y.mutableFloatPointer(), xp = x.floatPointer, sp = scale.floatPointer, bp = bias?.floatPointer
        let mp = meanT.mutableFloatPointer(), ip = invT.mutableFloatPointer()
        call.context.pool.parallelChunks(rows) { range in
            for r in range {
                let src = xp + r * size, dst = yp + r * size
                let (m, v) = moments(src, size)
                let inv = 1 / (v + eps).squareRoot()
                mp[r] = m
                ip[r] = inv
                if let bp {
                    for i in 0..<size { dst[i] = (src[i] - m) * inv * sp[i] + bp[i] }
                } else {
                    for i in 0..<size { dst[i] = (src[i] - m) * inv * sp[i] }
                }
            }
        }
        return [y, meanT, invT]
    }

    static func groupNorm(_ call: OpCall) throws -> [Tensor] {
        let node = call.node
        let x = try call.floatInput(0, "X")
        guard x.rank >= 3 else { throw call.fail("X has shape \(x.shape); it needs rank 3 or more (N, C, spatial...)") }
        guard let groups = try node.int("num_groups") else { throw call.fail("attribute num_groups is required") }
        let N = x.shape[0], C = x.shape[1], S = x.shape.dims.dropFirst(2).reduce(1, *)
        guard groups >= 1, C % groups == 0 else { throw call.fail("num_groups \(groups) must divide the channels \(C)") }
        let scale = try vector(call, 1, "scale", count: C), bias = try vector(call, 2, "bias", count: C)
        let eps = try node.float("epsilon", default: 1e-5)
        var y = try call.newOutput(x.shape.dims)
        let yp = y.mutableFloatPointer(), xp = x.floatPointer
        let cg = C / groups, span = cg * S
        call.context.pool.parallelChunks(N * groups) { range in
            for p in range {
                let src = xp + p * span, dst = yp + p * span
                let (m, v) = moments(src, span)
                let inv = 1 / (v + eps).squareRoot()
                for j in 0..<cg {
                    let c = (p % groups) * cg + j
                    let a = scale[c] * inv, b = bias[c] - m * a
                    for i in 0..<S { dst[j * S + i] = src[j * S + i] * a + b }
                }
            }
        }
        return [y]
    }

    static func lpNorm(_ call: OpCall) throws -> [Tensor] {
        let x = try call.floatInput(0, "input")
        let axis = try call.node.int("axis", default: -1), p = try call.node.int("p", default: 2)
        guard x.rank >= 1, axis >= -x.rank, axis < x.rank else { throw call.fail("axis \(axis) is out of range for input \(x.shape)") }
        guard p == 1 || p == 2 else { throw call.fail("p \(p) must be 1 or 2") }
        let ax = axis < 0 ? axis + x.rank : axis
        let outer = x.shape.dims[..<ax].reduce(1, *), n = x.shape[ax], inner = x.shape.dims[(ax + 1)...].reduce(1, *)
        var y = try call.newOutput(x.shape.dims)
        let yp = y.mutableFloatPointer(), xp = x.floatPointer
        for o in 0..<outer {
            for i in 0..<inner {
                let base = o * n * inner + i
                var s: Float = 0
                for j in 0..<n { let v = xp[base + j * inner]; s += p == 1 ? abs(v) : v * v }
                let norm = p == 1 ? s : s.squareRoot()
                for j in 0..<n { yp[base + j * inner] = norm == 0 ? 0 : xp[base + j * inner] / norm }
            }
        }
        return [y]
    }
}
