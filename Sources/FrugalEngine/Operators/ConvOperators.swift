import FrugalCore

/// Conv (1-D, 2-D through the Conv2D kernels; 3-D through N-d im2col + GEMM) and
/// ConvTranspose (any rank, GEMM + col2im), float32, NCHW.
enum ConvOperators {
    static let schemas: [OperatorSchema] = [
        OperatorSchema("Conv", since: 1, dtypes: [.float32, .float16]) { call in
            // float16: computed in float32, rounded back once.
            guard call.optionalInput(0)?.dtype == .float16 else { return try conv(call) }
            let widened = try call.inputs.map { try $0.map { $0.dtype == .float16 ? try CastOperators.cast($0, to: .float32) : $0 } }
            let y = try conv(OpCall(node: call.node, inputs: widened, context: call.context, state: call.state))[0]
            return [try CastOperators.cast(y, to: .float16)]
        },
        OperatorSchema("ConvTranspose", since: 1, dtypes: .floats) { try convTranspose($0) },
    ]

    /// Checks X, W (and B) of a Conv-like node and returns (group, bias).
    static func checkOperands(_ call: OpCall, x: Tensor, w: Tensor, transposed: Bool) throws -> (Int, Tensor?) {
        let group = try call.node.int("group", default: 1)
        guard x.rank >= 3, x.rank <= 5 else {
            throw call.fail("X has shape \(x.shape); expected rank 3, 4 or 5 (N, C, spatial...)")
        }
        guard w.rank == x.rank else {
            throw call.fail("W has shape \(w.shape) but X has shape \(x.shape); their ranks must match")
        }
        guard group >= 1, x.shape[1] % group == 0 else {
            throw call.fail("group \(group) must be at least 1 and divide the input channels \(x.shape[1])")
        }
        let outChannels: Int
        if transposed {
            guard w.shape[0] == x.shape[1] else {
                throw call.fail("X has \(x.shape[1]) channels but W \(w.shape) expects \(w.shape[0]) (W is [C, M/group, k...])")
            }
            outChannels = w.shape[1] * group
        } else {
            guard w.shape[1] * group == x.shape[1] else {
                throw call.fail("X \(x.shape) has \(x.shape[1]) channels but W \(w.shape) with group \(group) expects \(w.shape[1] * group)")
            }
            guard w.shape[0] % group == 0 else {
                throw call.fail("group \(group) must divide the output channels \(w.shape[0]) of W \(w.shape)")
            }
            outChannels = w.shape[0]
        }
        return (group, try checkedBias(call, outChannels: outChannels))
    }

    /// B (input 2) of a Conv-like node, checked: float32, one value per output channel.
    static func checkedBias(_ call: OpCall, outChannels: Int) throws -> Tensor? {
        guard let b = call.optionalInput(2) else { return nil }
        guard b.dtype == .float32, b.rank == 1, b.shape[0] == outChannels else {
            throw call.fail("B has shape \(b.shape) (\(b.dtype)) but must be float32 [\(outChannels)], one value per output channel")
        }
        return b
    }

    /// What a Conv node derives from its attributes and its X and W shapes, kept in the
    /// node's state and re-derived when either shape changes.
    final class ConvMemo {
        let xShape: Shape, wShape: Shape
        let group: Int
        let attributes: SpatialAttributes
        let outSpatial: [Int]
        /// Y's shape, [N, M] + outSpatial.
        let outDims: [Int]
        /// The node's packed-weight cache (the same object across memos).
        let packedCache: PackedWeightCache
        let residual: Bool
        let fused: FusedActivation?
        /// The 2-D (or 1-D) kernel descriptor, validated; nil for 3-D.
        let descriptor: Conv2DDescriptor?

        init(xShape: Shape, wShape: Shape, group: Int, attributes: SpatialAttributes, outSpatial: [Int],
             packedCache: PackedWeightCache, residual: Bool, fused: FusedActivation?, descriptor: Conv2DDescriptor?) {
            self.xShape = xShape
            self.wShape = wShape
            self.group = group
            self.attributes = attributes
            self.outSpatial = outSpatial
            outDims = [xShape[0], wShape[0]] + outSpatial
            self.packedCache = packedCache
            self.residual = residual
            self.fused = fused
            self.descriptor = descriptor
        }
    }

    /// The memo for X and W: the node's kept one when the shapes match, else a new one
    /// (checked as before, kept for the next run).
    static func convMemo(_ call: OpCall, x: Tensor, w: Tensor) throws -> (ConvMemo, Tensor?) {
        if let m = call.state?.memo as? ConvMemo, m.xShape == x.shape, m.wShape == w.shape {
            return (m, try checkedBias(call, outChannels: w.shape[0]))
        }
        let (group, bias) = try checkOperands(call, x: x, w: w, transposed: false)
        let spatial = Array(x.shape.dims[2...])
        let a = try SpatialAttributes(call.node, spatial: spatial, kernel: Array(w.shape.dims[2...]))
        var outSpatial: [Int] = []
        for i in 0..<spatial.count {
            let o = spatial[i] == 0 ? 0 : a.convOutput(i, spatial[i])
            guard o >= 0 else {
                throw call.fail("the dilated kernel \(a.kernel) (dilations \(a.dilations)) does not fit the padded input \(spatial) (pads \(a.padsBegin + a.padsEnd))")
            }
            outSpatial.append(o)
        }
        let residual = try call.node.int(Fusions.residualKey, default: 0) == 1
        let fused = try FusedActivation(fusedIn: call.node)
        var descriptor: Conv2DDescriptor? = nil
        if spatial.count <= 2 {
            let two = spatial.count == 2
            let d = Conv2DDescriptor(
                batch: x.shape[0], inChannels: x.shape[1], inHeight: two ? spatial[0] : 1, inWidth: spatial.last!,
                outChannels: w.shape[0], kernelHeight: two ? a.kernel[0] : 1, kernelWidth: a.kernel.last!,
                strides: (two ? a.strides[0] : 1, a.strides.last!), dilations: (two ? a.dilations[0] : 1, a.dilations.last!),
                pads: (two ? a.padsBegin[0] : 0, a.padsBegin.last!, two ? a.padsEnd[0] : 0, a.padsEnd.last!), groups: group)
            try call.kernel { try d.validate() }
            descriptor = d
        }
        let m = ConvMemo(xShape: x.shape, wShape: w.shape, group: group, attributes: a, outSpatial: outSpatial,
                         packedCache: call.cachedObject("packedA") { PackedWeightCache() }, residual: residual, fused: fused, descriptor: descriptor)
        call.state?.memo = m
        return (m, bias)
    }

    static func conv(_ call: OpCall) throws -> [Tensor] {
        let x = try call.floatInput(0, "X"), w = try call.floatInput(1, "W")
        let (memo, bias) = try convMemo(call, x: x, w: w)
        let group = memo.group, outSpatial = memo.outSpatial
        let N = x.shape[0], M = w.shape[0]
        // A folded residual Add (Fusions.fuseResidualAdds): Y = conv + R, then the activation.
        let residual: Tensor? = memo.residual ? try call.input(3) : nil
        var residualInEpilogue = false
        let fused = memo.fused
        let clamp = fused?.clampRange.map { OutputClamp(lower: $0.lowerBound, upper: $0.upperBound) }
        // Every path below writes every element of Y.
        var y = try call.newUninitializedOutput(memo.outDims)
        let yp = y.mutableFloatPointer()
        let pool = call.context.pool
        if let d = memo.descriptor {
            let count = Conv2D.workspaceCount(d, threadCount: pool.threadCount)
            let ws = count > 0 ? call.scratch("conv").floats(count) : nil
            let packed = packedWeights(call, w, d, cache: memo.packedCache)
            if let r = residual, r.dtype == .float32, r.shape == y.shape, Conv2D.usesGEMM(d) {
                // Start from R; the GEMM epilogue adds the product, the bias, then clamps.
                yp.update(from: r.floatPointer, count: y.elementCount)
                residualInEpilogue = true
            }
            Conv2D.forward(d, input: x.floatPointer, weight: w.floatPointer, bias: bias?.floatPointer, output: yp,
                           clamp: residual == nil || residualInEpilogue ? clamp : nil, workspace: ws, workspaceCount: count,
                           pool: pool, packedWeights: packed, accumulate: residualInEpilogue)
        } else {
            convND(call, x: x, w: w, bias: bias, group: group, attributes: memo.attributes, outSpatial: outSpatial, y: yp,
                   clamp: residual == nil ? clamp : nil)
        }
        if let r = residual, !residualInEpilogue {
            // Shapes that broadcast, or a convolution without GEMMs: add as the Add would.
            var sum = try call.kernel { try Elementwise.binary(.add, y, r, pool: pool) }
            if let fused { fused.run(sum.mutableFloatPointer(), count: sum.elementCount) }
            return [sum]
        }
        if let fused, fused.clampRange == nil { fused.run(yp, count: y.elementCount) }
        return [y]
    }

    /// Cached GEMM packing of this node's weights: reused while W is the same tensor (an
    /// initializer), re-made when a run feeds another one.
    final class PackedWeightCache: @unchecked Sendable {
        var source: Tensor? = nil
        var packed: [GEMM.PackedA]? = nil
    }

    /// The weights of a pointwise or general 2-D convolution packed once for the micro-kernels
    /// (nil for depthwise, which reads them directly).
    static func packedWeights(_ call: OpCall, _ w: Tensor, _ d: Conv2DDescriptor,
                              cache: PackedWeightCache) -> [GEMM.PackedA]? {
        guard d.takesPackedWeights else { return nil }
        if let p = cache.packed, let s = cache.source, s.sharesStorage(with: w), Conv2D.weightsFit(p, d) { return p }
        let p = Conv2D.packWeights(d, weight: w.floatPointer, pool: call.context.pool)
        cache.source = w
        cache.packed = p
        return p
    }

    /// Conv of any rank: per (image, group), N-d im2col then W[g] x columns.
    static func convND(_ call: OpCall, x: Tensor, w: Tensor, bias: Tensor?, group: Int, attributes a: SpatialAttributes,
                       outSpatial: [Int], y: UnsafeMutablePointer<Float>, clamp: OutputClamp?) {
        let N = x.shape[0], C = x.shape[1], M = w.shape[0]
        let Cg = C / group, Mg = M / group
        let map = ColumnMap(imageDims: Array(x.shape.dims[2...]), gridDims: outSpatial, attributes: a)
        let K = Cg * map.taps, P = map.positions
        if N * M * P == 0 { return }
        let col = call.scratch("col").floats(K * P)
        let xp = x.floatPointer, wp = w.floatPointer
        for n in 0..<N {
            for g in 0..<group {
                map.unfold(xp + (n * C + g * Cg) * map.imageSize, channels: Cg, into: col)
                let out = y + (n * M + g * Mg) * P
                GEMM.sgemm(m: Mg, n: P, k: K, a: wp + g * Mg * K, lda: max(K, 1), b: col, ldb: P,
                           c: out, ldc: P, pool: call.context.pool)
                for m in 0..<Mg {
                    let row = out + m * P
                    let b = bias.map { $0.floatPointer[g * Mg + m] } ?? 0
                    for i in 0..<P {
                        var v = row[i] + b
                        if let c = clamp { v = min(max(v, c.lower), c.upper) }
                        row[i] = v
                    }
                }
            }
        }
    }

    static func convTranspose(_ call: OpCall) throws -> [Tensor] {
        let node = call.node
        let x = try call.floatInput(0, "X"), w = try call.floatInput(1, "W")
        let (group, bias) = try checkOperands(call, x: x, w: w, transposed: true)
        let spatial = Array(x.shape.dims[2...]), r = spatial.count
        let kernel = Array(w.shape.dims[2...])
        // Pads are resolved below (auto_pad / output_shape); read the rest with VALID pads.
        var plain = node
        plain.attributes["auto_pad"] = .string("VALID")
        var a = try SpatialAttributes(plain, spatial: spatial, kernel: kernel)
        let outputPadding = try node.ints("output_padding") ?? Array(repeating: 0, count: r)
        guard outputPadding.count == r, outputPadding.allSatisfy({ $0 >= 0 }) else {
            throw call.fail("output_padding \(outputPadding) must be \(r) non-negative values")
        }
        let autoPad = try node.string("auto_pad", default: "NOTSET")
        var outputShape = try node.ints("output_shape")
        if let os = outputShape, os.count == r + 2 { outputShape = Array(os[2...]) }
        if let os = outputShape, os.count != r {
            throw call.fail("output_shape \(os) must have \(r) values")
        }
        // Full (unpadded) extent of each output dimension.
        var full: [Int] = []
        for i in 0..<r {
            let span: Int = (kernel[i] - 1) * a.dilations[i] + 1
            full.append(a.strides[i] * (spatial[i] - 1) + outputPadding[i] + span)
        }
        let explicitPads = try node.ints("pads")
        var outSpatial: [Int]
        if outputShape != nil || ((autoPad == "SAME_UPPER" || autoPad == "SAME_LOWER") && explicitPads == nil) {
            outSpatial = outputShape ?? (0..<r).map { spatial[$0] * a.strides[$0] }
            for i in 0..<r {
                let total = full[i] - outSpatial[i]
                let half: Int = total >= 0 ? total / 2 : -((1 - total) / 2)
                a.padsBegin[i] = autoPad == "SAME_UPPER" ? half : total - half
                a.padsEnd[i] = total - a.padsBegin[i]
            }
        } else {
            let p = explicitPads ?? Array(repeating: 0, count: 2 * r)
            guard p.count == 2 * r, p.allSatisfy({ $0 >= 0 }) else {
                throw call.fail("pads \(p) must be \(2 * r) non-negative values")
            }
            a.padsBegin = Array(p[..<r])
            a.padsEnd = Array(p[r...])
            outSpatial = (0..<r).map { full[$0] - a.padsBegin[$0] - a.padsEnd[$0] }
        }
        guard outSpatial.allSatisfy({ $0 >= 0 }) else {
            throw call.fail("the output shape \(outSpatial) would be negative (pads \(a.padsBegin + a.padsEnd))")
        }
        let N = x.shape[0], C = x.shape[1], Cg = C / group, Mg = w.shape[1], M = Mg * group
        var y = try call.newOutput([N, M] + outSpatial)
        let yp = y.mutableFloatPointer()
        // The ConvTranspose output is the "image" of the equivalent convolution whose output
        // grid is X's spatial extent.
        let map = ColumnMap(imageDims: outSpatial, gridDims: spatial, attributes: a)
        let K = Mg * map.taps, P = map.positions
        if N * M * map.imageSize > 0 && P > 0 && Cg > 0 {
            let col = call.scratch("col").floats(K * P)
            let xp = x.floatPointer, wp = w.floatPointer
            for n in 0..<N {
                for g in 0..<group {
                    // col [Mg*taps, P] = W[g]^T (W[g] is [Cg, Mg*taps]) x X[n, g] [Cg, P].
                    GEMM.sgemm(m: K, n: P, k: Cg, a: wp + g * Cg * K, lda: K, transA: true,
                               b: xp + (n * C + g * Cg) * P, ldb: P, c: col, ldc: P, pool: call.context.pool)
                    map.fold(col, channels: Mg, into: yp + (n * M + g * Mg) * map.imageSize)
                }
            }
        }
        if let b = bias {
            let bp = b.floatPointer, plane = map.imageSize
            for n in 0..<N { for m in 0..<M { let row = yp + (n * M + m) * plane; for i in 0..<plane { row[i] += bp[m] } } }
        }
        return [y]
    }
}
