import FrugalCore

/// ONNX Runtime's quantized contrib operators (domain com.microsoft), which ONNX Runtime's
/// quantizer writes in its QOperator format and which the int8 models of the ONNX model zoo
/// use: QLinearAdd, QLinearMul, QLinearGlobalAveragePool, QLinearAveragePool,
/// QLinearSigmoid, QLinearLeakyRelu, QLinearSoftmax, QLinearConcat and QGemm.
///
/// Each one dequantizes its inputs, (x − zero_point) · scale in float32, runs the standard
/// operator of the same meaning through the registry, and quantizes the result (divide by
/// the output scale, round half to even, add the zero point, saturate), which is how the
/// contrib specification defines them. ONNX Runtime's fixed-point kernels can land one
/// quantization step away where a value sits on a rounding tie. A missing zero point is 0
/// and the output has the input's element type.
enum QLinearContribOperators {
    static let domain = "com.microsoft"
    static let quantized: Set<DType> = [.int8, .uint8]

    static let schemas: [OperatorSchema] = [
        OperatorSchema("QLinearAdd", domain: domain, since: 1, dtypes: quantized) { try binary($0, "Add") },
        OperatorSchema("QLinearMul", domain: domain, since: 1, dtypes: quantized) { try binary($0, "Mul") },
        OperatorSchema("QLinearGlobalAveragePool", domain: domain, since: 1, dtypes: quantized) {
            try unary($0, "GlobalAveragePool", attributes: [:], channelsLast: true)
        },
        OperatorSchema("QLinearAveragePool", domain: domain, since: 1, dtypes: quantized) {
            try unary($0, "AveragePool", attributes: poolAttributes($0.node), channelsLast: true)
        },
        OperatorSchema("QLinearSigmoid", domain: domain, since: 1, dtypes: quantized) {
            try unary($0, "Sigmoid", attributes: [:], channelsLast: false)
        },
        OperatorSchema("QLinearLeakyRelu", domain: domain, since: 1, dtypes: quantized) {
            try unary($0, "LeakyRelu", attributes: ["alpha": .float(try $0.node.float("alpha", default: 0.01))], channelsLast: false)
        },
        OperatorSchema("QLinearSoftmax", domain: domain, since: 1, dtypes: quantized) { try softmax($0) },
        OperatorSchema("QLinearConcat", domain: domain, since: 1, dtypes: .floats) { try concat($0) },
        OperatorSchema("QGemm", domain: domain, since: 1, dtypes: quantized) { try qgemm($0) },
    ]

    // MARK: the operators

    /// QLinearAdd / QLinearMul: (A, A_scale, A_zp, B, B_scale, B_zp, C_scale, C_zp).
    static func binary(_ call: OpCall, _ op: String) throws -> [Tensor] {
        let a = try dequantized(call, 0, "A")
        let b = try dequantized(call, 3, "B")
        let y = try call.running(op, [a, b])[0]
        return [try quantize(call, y, scale: 6, zeroPoint: 7, like: try call.input(0))]
    }

    /// (X, X_scale, X_zp, Y_scale, Y_zp) around a one-input float op; with `channelsLast`
    /// the node's channels_last attribute (NHWC input and output) is honoured.
    static func unary(_ call: OpCall, _ op: String, attributes: [String: AttributeValue], channelsLast: Bool) throws -> [Tensor] {
        var x = try dequantized(call, 0, "X")
        let nhwc = try channelsLast && call.node.int("channels_last", default: 0) != 0
        if nhwc {
            guard x.rank >= 3 else { throw call.fail("X has shape \(x.shape); channels_last needs rank 3 or more") }
            x = try call.running("Transpose", [x], ["perm": .ints(toChannelsFirst(x.rank))], tag: "in")[0]
        }
        var y = try call.running(op, [x], attributes)[0]
        if nhwc { y = try call.running("Transpose", [y], ["perm": .ints(toChannelsLast(y.rank))], tag: "out")[0] }
        return [try quantize(call, y, scale: 3, zeroPoint: 4, like: try call.input(0))]
    }

    /// QLinearSoftmax: `opset` < 13 flattens X to 2-D at `axis` (default 1) and normalises
    /// each row; 13 and later normalise along `axis` alone (default -1).
    static func softmax(_ call: OpCall) throws -> [Tensor] {
        let x = try dequantized(call, 0, "X")
        let opset = try call.node.int("opset", default: 13)
        let r = max(x.rank, 1)
        var axis = try call.node.int("axis", default: opset < 13 ? 1 : -1)
        guard axis >= -r && axis < r else { throw call.fail("axis \(axis) is out of range for X \(x.shape)") }
        if axis < 0 { axis += r }
        let dims = x.rank == 0 ? [1] : x.shape.dims
        let outer = dims[..<axis].reduce(1, *)
        let length = opset < 13 ? dims[axis...].reduce(1, *) : dims[axis]
        let inner = opset < 13 ? 1 : dims[(axis + 1)...].reduce(1, *)
        let y = try SoftmaxOperators.softmax(call, log: false, x, outer, length, inner)
        return [try quantize(call, y, scale: 3, zeroPoint: 4, like: try call.input(0))]
    }

    /// QLinearConcat: (Y_scale, Y_zp, then X, X_scale, X_zp for each input), attribute axis.
    static func concat(_ call: OpCall) throws -> [Tensor] {
        let count = call.inputs.count - 2
        guard count >= 3, count % 3 == 0 else {
            throw call.fail("has \(call.inputs.count) inputs; expected Y_scale, Y_zero_point and then (X, X_scale, X_zero_point) triples")
        }
        var parts: [Tensor?] = []
        for i in stride(from: 2, to: call.inputs.count, by: 3) { parts.append(try dequantized(call, i, "input \(i)")) }
        let y = try call.running("Concat", parts, ["axis": .int(try call.node.int("axis", default: 0))])[0]
        return [try quantize(call, y, scale: 0, zeroPoint: 1, like: try call.input(2))]
    }

    /// QGemm: (A, a_scale, a_zp, B, b_scale, b_zp, C, y_scale, y_zp), attributes alpha,
    /// transA, transB. B may have one scale and zero point per output column; C is an int32
    /// bias in units of a_scale · b_scale. Without y_scale the output is float32.
    static func qgemm(_ call: OpCall) throws -> [Tensor] {
        let node = call.node
        let transA = try node.int("transA", default: 0), transB = try node.int("transB", default: 0)
        let a = try dequantized(call, 0, "A")
        let bq = try call.input(3)
        guard bq.rank == 2 else { throw call.fail("B has shape \(bq.shape); it must be 2-D") }
        let n = transB != 0 ? bq.shape[0] : bq.shape[1]
        // B is a weight: dequantize it once while the same tensor comes in.
        let cache = call.context.cached("qgemm.b:\(node.name)") { DequantizedCache() }
        let b: Tensor
        if let s = cache.source, s.sharesStorage(with: bq), let d = cache.value {
            b = d
        } else {
            b = try dequantized(call, 3, "B", axis: transB != 0 ? 0 : 1, channels: n)
            cache.source = bq
            cache.value = b
        }
        var inputs: [Tensor?] = [a, b]
        if let c = call.optionalInput(6) {
            guard c.dtype == .int32 else { throw call.fail("C is \(c.dtype); it must be int32") }
            let aScale = try scalar(call, 1, "a_scale")
            let bScales = try call.input(4).floatScalars()
            guard bScales.count == 1 || bScales.count == n else {
                throw call.fail("b_scale holds \(bScales.count) values; it must hold 1 or \(n)")
            }
            let values = c.floatScalars(), cols = c.shape.dims.last ?? 1
            var bias = try call.newOutput(c.shape.dims)
            let p = bias.mutableFloatPointer()
            for i in 0..<values.count {
                p[i] = values[i] * aScale * bScales[bScales.count == 1 ? 0 : i % max(cols, 1)]
            }
            inputs.append(bias)
        }
        var attributes: [String: AttributeValue] = ["transA": .int(transA), "transB": .int(transB)]
        attributes["alpha"] = .float(try node.float("alpha", default: 1))
        let y = try call.running("Gemm", inputs, attributes)[0]
        guard call.optionalInput(7) != nil else { return [y] }
        return [try quantize(call, y, scale: 7, zeroPoint: 8, like: try call.input(0))]
    }

    // MARK: helpers

    final class DequantizedCache: @unchecked Sendable {
        var source: Tensor? = nil
        var value: Tensor? = nil
    }

    /// The attributes AveragePool reads, copied from a QLinearAveragePool node.
    static func poolAttributes(_ node: Node) -> [String: AttributeValue] {
        let keys = ["auto_pad", "ceil_mode", "count_include_pad", "kernel_shape", "pads", "strides", "dilations"]
        return node.attributes.filter { keys.contains($0.key) }
    }

    static func toChannelsFirst(_ rank: Int) -> [Int] { [0, rank - 1] + Array(1..<(rank - 1)) }
    static func toChannelsLast(_ rank: Int) -> [Int] { [0] + Array(2..<rank) + [1] }

    /// A float scalar input.
    static func scalar(_ call: OpCall, _ i: Int, _ name: String) throws -> Float {
        let t = try call.input(i)
        guard t.dtype == .float32, t.elementCount == 1 else {
            throw call.fail("\(name) (input \(i)) is \(t.dtype) \(t.shape); it must be a float32 scalar")
        }
        return t.floatScalars()[0]
    }

    /// Input `i` (int8/uint8) dequantized with the scale at i + 1 and the optional zero point
    /// at i + 2: per tensor, or with `channels` values along `axis`.
    static func dequantized(_ call: OpCall, _ i: Int, _ name: String, axis: Int? = nil, channels: Int = 1) throws -> Tensor {
        let x = try call.input(i)
        guard quantized.contains(x.dtype) else { throw call.fail("\(name) is \(x.dtype); only int8 and uint8 are supported") }
        let scaleT = try call.input(i + 1)
        let zpT = call.optionalInput(i + 2)
        guard scaleT.dtype == .float32 else { throw call.fail("the scale of \(name) is \(scaleT.dtype); it must be float32") }
        let perChannel = axis != nil && scaleT.elementCount == channels && channels > 1
        guard scaleT.elementCount == 1 || perChannel else {
            throw call.fail("the scale of \(name) holds \(scaleT.elementCount) values; it must be a scalar\(axis != nil ? " or hold \(channels)" : "")")
        }
        if let zpT {
            guard zpT.dtype == x.dtype else { throw call.fail("the zero point of \(name) is \(zpT.dtype) but \(name) is \(x.dtype)") }
            guard zpT.elementCount == scaleT.elementCount else {
                throw call.fail("the zero point of \(name) holds \(zpT.elementCount) values but its scale \(scaleT.elementCount)")
            }
        }
        // The arithmetic is DequantizeLinear's (per tensor, or per channel along `axis`); a
        // one-value scale of any shape is passed as a scalar, which is what it means here.
        let scale = scaleT.elementCount == 1 ? Tensor(scalar: scaleT.floatScalars()[0]) : scaleT
        let attributes: [String: AttributeValue] = perChannel ? ["axis": .int(axis!)] : [:]
        return try call.running("DequantizeLinear", [x, scale, zpT], attributes, tag: "\(i)")[0]
    }

    /// `y` quantized with the scale and optional zero point at inputs `scale` and
    /// `zeroPoint`, to the zero point's type (else `like`'s type) through QuantizeLinear.
    static func quantize(_ call: OpCall, _ y: Tensor, scale: Int, zeroPoint: Int, like: Tensor) throws -> Tensor {
        _ = try self.scalar(call, scale, "the output scale")
        let zp = call.optionalInput(zeroPoint)
        if let zp, zp.elementCount != 1 { throw call.fail("the output zero point has shape \(zp.shape); it must be a scalar") }
        let type = zp?.dtype ?? like.dtype
        guard quantized.contains(type) else { throw call.fail("the output type \(type) is not int8 or uint8") }
        let code = type == .int8 ? 3 : 2
        return try call.running("QuantizeLinear", [y, try call.input(scale), zp], ["output_dtype": .int(code)])[0]
    }
}

extension OpCall {
    /// This call with other input values (same node and context).
    func replacingInputs(_ values: [Tensor?]) -> OpCall { OpCall(node: node, inputs: values, context: context) }

    /// Runs the standard (default-domain) operator `opType` on `values` with `attributes`,
    /// as part of this node: its errors name this node. The step runs as a node named
    /// "<this node>/<opType><tag>", under which it keeps what it caches.
    func running(_ opType: String, _ values: [Tensor?], _ attributes: [String: AttributeValue] = [:], tag: String = "") throws -> [Tensor] {
        guard let schema = OperatorRegistry.schema(opType) else { throw fail("needs \(opType), which this build does not register") }
        let name = "\(node.name)/\(opType)\(tag)"
        let inner = Node(name: name, opType: opType, inputs: values.enumerated().map { $0.element == nil ? "" : "\(name)#\($0.offset)" },
                         outputs: ["\(name)#out"], attributes: attributes)
        do {
            return try schema.run(OpCall(node: inner, inputs: values, context: context))
        } catch let e as EngineError {
            throw fail("its \(opType) step failed: \(e)")
        }
    }
}
