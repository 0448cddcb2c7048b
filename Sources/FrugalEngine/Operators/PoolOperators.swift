import FrugalCore

/// MaxPool (with the optional Indices output), AveragePool, GlobalAveragePool and
/// GlobalMaxPool, float32; MaxPool also on int8 and uint8 (opset 12+), computed exactly on
/// the values widened to float32 (every 8-bit value is a float, and max only compares). 1-D and 2-D pools run on the row-pass kernels of Pooling; 3-D
/// pools and MaxPool with Indices run on a direct N-d loop here.
enum PoolOperators {
    static let schemas: [OperatorSchema] = [
        OperatorSchema("MaxPool", since: 1, dtypes: [.float32, .int8, .uint8]) { try maxPool($0) },
        OperatorSchema("AveragePool", since: 1, dtypes: .floats) { try pool($0, max: false) },
        OperatorSchema("GlobalAveragePool", since: 1, dtypes: .floats) { call in
            [try call.kernel { try Pooling.globalAveragePool(try call.floatInput(0, "X"), pool: call.context.pool) }]
        },
        OperatorSchema("GlobalMaxPool", since: 1, dtypes: .floats) { call in
            [try call.kernel { try Pooling.globalMaxPool(try call.floatInput(0, "X"), pool: call.context.pool) }]
        },
    ]

    /// Output size of one pooled dimension (ONNX: floor or ceil; with ceil the last window
    /// must start inside the input or its leading padding).
    static func outSize(_ n: Int, _ i: Int, _ a: SpatialAttributes, ceil: Bool) -> Int {
        let span = n + a.padsBegin[i] + a.padsEnd[i] - (a.kernel[i] - 1) * a.dilations[i] - 1
        if span < 0 { return -1 }
        let s = a.strides[i]
        var out = (ceil ? (span + s - 1) / s : span / s) + 1
        if ceil && (out - 1) * s >= n + a.padsBegin[i] { out -= 1 }
        return out
    }

    /// MaxPool: float32 directly; int8/uint8 widened to float32, pooled, and narrowed back.
    static func maxPool(_ call: OpCall) throws -> [Tensor] {
        let x = try call.input(0)
        guard x.dtype == .int8 || x.dtype == .uint8 else { return try pool(call, max: true) }
        let wide = try call.kernel { try CastOperators.cast(x, to: .float32) }
        var outs = try pool(call.replacingInputs([wide]), max: true)
        outs[0] = try call.kernel { try CastOperators.cast(outs[0], to: x.dtype) }
        return outs
    }

    static func pool(_ call: OpCall, max isMax: Bool) throws -> [Tensor] {
        let node = call.node
        let x = try call.floatInput(0, "X")
        guard x.rank >= 3, x.rank <= 5 else {
            throw call.fail("X has shape \(x.shape); expected rank 3, 4 or 5 (N, C, spatial...)")
        }
        let spatial = Array(x.shape.dims[2...]), r = spatial.count
        let a = try SpatialAttributes(node, spatial: spatial, kernel: nil)
        let ceil = try node.int("ceil_mode", default: 0) != 0
        let includePad = try node.int("count_include_pad", default: 0) != 0
        let storageOrder = try node.int("storage_order", default: 0)
        guard storageOrder == 0 || storageOrder == 1 else { throw call.fail("storage_order \(storageOrder) must be 0 or 1") }
        var outSpatial: [Int] = []
        for i in 0..<r {
            let o = spatial[i] == 0 ? 0 : outSize(spatial[i], i, a, ceil: ceil)
            guard o >= 0 else {
                throw call.fail("the dilated window \(a.kernel) (dilations \(a.dilations)) is larger than the padded input \(spatial) (pads \(a.padsBegin + a.padsEnd))")
            }
            outSpatial.append(o)
        }
        let N = x.shape[0], C = x.shape[1]
        let wantIndices = isMax && node.outputs.count > 1 && !node.outputs[1].isEmpty
        var y = try call.newOutput([N, C] + outSpatial)
        let yp = y.mutableFloatPointer()
        if r <= 2 && !wantIndices {
            let two = r == 2
            let d = Pool2DDescriptor(
                batch: N, channels: C, inHeight: two ? spatial[0] : 1, inWidth: spatial[r - 1],
                kernelHeight: two ? a.kernel[0] : 1, kernelWidth: a.kernel[r - 1],
                strides: (two ? a.strides[0] : 1, a.strides[r - 1]), dilations: (two ? a.dilations[0] : 1, a.dilations[r - 1]),
                pads: (two ? a.padsBegin[0] : 0, a.padsBegin[r - 1], two ? a.padsEnd[0] : 0, a.padsEnd[r - 1]), ceilMode: ceil)
            try call.kernel { try d.validate(op: node.opType) }
            if isMax {
                Pooling.maxPool2D(d, input: x.floatPointer, output: yp, pool: call.context.pool)
            } else {
                Pooling.averagePool2D(d, countIncludePad: includePad, input: x.floatPointer, output: yp, pool: call.context.pool)
            }
            return [y]
        }
        var indices = wantIndices ? try call.kernel { try Tensor(zeros: Shape([N, C] + outSpatial), dtype: .int64) } : nil
        let ip = indices?.withUnsafeMutableBufferPointer(as: Int64.self) { $0.baseAddress! }
        poolND(x.floatPointer, planes: N * C, spatial: spatial, outSpatial: outSpatial, a: a, isMax: isMax,
               includePad: includePad, columnMajor: storageOrder == 1, y: yp, indices: ip)
        return indices.map { [y, $0] } ?? [y]
    }

    /// Direct pooling of `planes` planes of any rank; Indices (when `indices` is given) are
    /// flat offsets into X, the spatial part row-major (or column-major with `columnMajor`).
    static func poolND(_ x: UnsafePointer<Float>, planes: Int, spatial: [Int], outSpatial: [Int], a: SpatialAttributes,
                       isMax: Bool, includePad: Bool, columnMajor: Bool,
                       y: UnsafeMutablePointer<Float>, indices: UnsafeMutablePointer<Int64>?) {
        let r = spatial.count
        let inSize = spatial.reduce(1, *), outCount = outSpatial.reduce(1, *), taps = a.kernel.reduce(1, *)
        if planes * outCount == 0 { return }
        var rowStrides = [Int](repeating: 1, count: r), colStrides = [Int](repeating: 1, count: r)
        for i in stride(from: r - 2, through: 0, by: -1) { rowStrides[i] = rowStrides[i + 1] * spatial[i + 1] }
        for i in 1..<max(r, 1) { colStrides[i] = colStrides[i - 1] * spatial[i - 1] }
        var o = [Int](repeating: 0, count: r), k = [Int](repeating: 0, count: r)
        var start = [Int](repeating: 0, count: r)
        for p in 0..<outCount {
            var rem = p
            for i in stride(from: r - 1, through: 0, by: -1) { o[i] = rem % outSpatial[i]; rem /= outSpatial[i] }
            for i in 0..<r { start[i] = o[i] * a.strides[i] - a.padsBegin[i] }
            // Offsets (row-major, column-major) of the taps inside X, and the padded-tap count.
            var best = -Float.infinity, bestRow = -1, bestCol = -1, sum: Float = 0, inside = 0, padded = 0
            var offsets: [(Int, Int)] = []
            offsets.reserveCapacity(taps)
            for t in 0..<taps {
                var rem = t
                for i in stride(from: r - 1, through: 0, by: -1) { k[i] = rem % a.kernel[i]; rem /= a.kernel[i] }
                var rowOff = 0, colOff = 0, valid = true, inPad = true
                for i in 0..<r {
                    let c = start[i] + k[i] * a.dilations[i]
                    if c < 0 || c >= spatial[i] { valid = false }
                    if c < -a.padsBegin[i] || c >= spatial[i] + a.padsEnd[i] { inPad = false }
                    rowOff += c * rowStrides[i]
                    colOff += c * colStrides[i]
                }
                if inPad { padded += 1 }
                if valid { offsets.append((rowOff, colOff)); inside += 1 }
            }
            for plane in 0..<planes {
                let src = x + plane * inSize
                if isMax {
                    best = -.infinity; bestRow = -1; bestCol = -1
                    for (ro, co) in offsets where src[ro] > best || bestRow < 0 {
                        best = src[ro]; bestRow = ro; bestCol = co
                    }
                    y[plane * outCount + p] = best
                    if let indices {
                        indices[plane * outCount + p] = Int64(plane * inSize + (columnMajor ? bestCol : bestRow))
                    }
                } else {
                    sum = 0
                    for (ro, _) in offsets { sum += src[ro] }
                    let count = includePad ? padded : inside
                    y[plane * outCount + p] = count > 0 ? sum / Float(count) : 0
                }
            }
        }
    }
}
