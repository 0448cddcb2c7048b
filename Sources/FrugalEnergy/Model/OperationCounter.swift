import FrugalCore
import FrugalEngine

/// Counts the arithmetic and memory traffic of one executed node from the shapes and types it
/// really read and wrote (see the assumptions at the top of EnergyModel.swift).
enum OperationCounter {
    /// Cost of a transcendental function (exp, log, tanh, erf, sqrt...) per element: a
    /// degree-7 polynomial after range reduction, about 8 multiplications and 8 additions.
    static let transcendental: (adds: Double, mults: Double) = (8, 8)

    /// Ops that only relabel a shape: the engine shares the input's storage, nothing moves.
    static let views: Set<String> = ["Reshape", "Flatten", "Squeeze", "Unsqueeze", "Identity", "Dropout", "Shape", "Size"]

    /// Ops that move or convert data without arithmetic: charged for bytes only.
    static let dataMovement: Set<String> = [
        "Transpose", "Concat", "Split", "Slice", "Gather", "GatherElements", "GatherND", "ScatterElements", "ScatterND",
        "Pad", "Tile", "Expand", "Cast", "CastLike", "ConstantOfShape", "Constant", "DepthToSpace", "SpaceToDepth",
        "Where", "Resize", "Upsample", "OneHot", "Range", "EyeLike", "Compress", "Trilu", "ReverseSequence",
    ]

    /// Per-element (adds, mults) of elementwise ops, at the precision of their first input.
    static let elementwise: [String: (adds: Double, mults: Double)] = {
        let t = transcendental
        var table: [String: (adds: Double, mults: Double)] = [
            "Add": (1, 0), "Sub": (1, 0), "Mul": (0, 1), "Div": (0, 1), "Neg": (1, 0), "Abs": (1, 0), "Sign": (1, 0),
            "Relu": (1, 0), "Clip": (2, 0), "LeakyRelu": (1, 1), "PRelu": (1, 1), "ThresholdedRelu": (1, 0),
            "HardSigmoid": (3, 1), "HardSwish": (3, 2), "Reciprocal": (0, 1), "Floor": (1, 0), "Ceil": (1, 0),
            "Round": (1, 0), "Mod": (1, 2), "BitShift": (1, 0),
            "Equal": (1, 0), "Less": (1, 0), "LessOrEqual": (1, 0), "Greater": (1, 0), "GreaterOrEqual": (1, 0),
            "And": (1, 0), "Or": (1, 0), "Xor": (1, 0), "Not": (1, 0), "IsNaN": (1, 0), "IsInf": (1, 0),
            "BatchNormalization": (1, 1),
            "QuantizeLinear": (1, 1), "DequantizeLinear": (1, 1),
        ]
        for op in ["Exp", "Log", "Sqrt", "Erf", "Sin", "Cos", "Tan", "Asin", "Acos", "Atan", "Sinh", "Cosh", "Asinh",
                   "Acosh", "Atanh"] {
            table[op] = t
        }
        table["Sigmoid"] = (t.adds + 1, t.mults + 1)  // 1 / (1 + exp(-x))
        table["Tanh"] = (t.adds + 2, t.mults + 1)
        table["Softplus"] = (2 * t.adds + 1, 2 * t.mults)  // log(1 + exp(x))
        table["Softsign"] = (2, 1)
        table["Elu"] = (t.adds + 2, t.mults + 1)
        table["Selu"] = (t.adds + 2, t.mults + 2)
        table["Celu"] = (t.adds + 2, t.mults + 2)
        table["Gelu"] = (t.adds + 1, t.mults + 3)  // x/2 · (1 + erf(x/√2))
        table["Mish"] = (3 * t.adds + 2, 3 * t.mults + 1)
        table["Pow"] = (2 * t.adds, 2 * t.mults + 1)  // exp(y · log x)
        // Normalisations over groups: mean (1 add), variance (sub, square, add), normalise
        // (sub, mult by the reciprocal std), affine (mult, add): 5 adds and 3 mults.
        for op in ["LayerNormalization", "InstanceNormalization", "GroupNormalization", "MeanVarianceNormalization"] {
            table[op] = (5, 3)
        }
        table["Softmax"] = (t.adds + 3, t.mults + 1)  // max, subtract, exp, sum, scale
        table["LogSoftmax"] = (t.adds + 3, t.mults)
        return table
    }()

    /// Ops whose multiply-adds count in `total_macs` (the MobileNet papers' convention).
    static let macOps: Set<String> = ["Conv", "Gemm", "MatMul", "ConvTranspose", "ConvInteger", "MatMulInteger", "QLinearConv", "QLinearMatMul"]

    static func count(_ t: NodeTrace, format: WeightFormat) throws -> OperationCounts {
        var c = OperationCounts()
        let op = t.node.opType
        let out = t.outputs.first ?? nil
        let outElements = Double(out?.elementCount ?? 0)
        let p = Precision(t.inputs.first??.dtype ?? out?.dtype ?? .float32)

        // Memory traffic: every input read once and every output written once; views move nothing.
        if !views.contains(op) {
            let weightInput = WeightFormat.weightInput(of: op)
            for (i, v) in t.inputs.enumerated() {
                guard let v else { continue }
                if i < t.inputIsConstant.count && t.inputIsConstant[i] {
                    c.weightBytesRead += i == weightInput ? format.weightBytes(elements: v.elementCount, elementBytes: v.dtype.byteSize) : v.byteCount
                } else {
                    c.activationBytesRead += v.byteCount
                }
            }
            c.bytesWritten = t.outputs.reduce(0) { $0 + ($1?.byteCount ?? 0) }
        }

        switch op {
        case _ where views.contains(op) || dataMovement.contains(op):
            break
        case "Conv", "Gemm", "MatMul", "ConvTranspose", "ConvInteger", "MatMulInteger", "QLinearConv", "QLinearMatMul":
            try countMatrixOp(t, format: format, into: &c)
        case "MaxPool", "AveragePool", "LpPool":
            let kernel = Double(((try t.node.ints("kernel_shape")) ?? []).reduce(1, *))
            c.add(outElements * (kernel - 1), p)
            if op != "MaxPool" { c.mult(outElements, p) }
            if op == "LpPool" { c.mult(outElements * kernel, p) }
        case "GlobalAveragePool", "GlobalMaxPool", "GlobalLpPool":
            let inElements = Double(t.inputs.first??.elementCount ?? 0)
            c.add(inElements, p)
            if op != "GlobalMaxPool" { c.mult(outElements, p) }
        case _ where op.hasPrefix("Reduce") || op == "ArgMax" || op == "ArgMin":
            let inElements = Double(t.inputs.first??.elementCount ?? 0)
            c.add(inElements, p)
            if ["ReduceL2", "ReduceSumSquare", "ReduceL1"].contains(op) { c.mult(inElements, p) }
            if op == "ReduceMean" { c.mult(outElements, p) }
            if ["ReduceLogSum", "ReduceLogSumExp", "ReduceL2"].contains(op) {
                c.add(outElements * transcendental.adds, p)
                c.mult(outElements * transcendental.mults, p)
            }
        case "Sum", "Max", "Min", "Mean":
            let operands = Double(t.inputs.compactMap { $0 }.count)
            c.add(outElements * max(operands - 1, 0), p)
            if op == "Mean" { c.mult(outElements, p) }
        default:
            if let e = elementwise[op] {
                c.add(outElements * e.adds, p)
                c.mult(outElements * e.mults, p)
            } else {
                c.add(outElements, Precision(out?.dtype ?? .float32))
                c.modeled = false
            }
        }
        return c
    }

    /// Conv, Gemm, MatMul and their integer forms: multiply-adds (scaled by the weight's
    /// density when it is stored sparse), bias, Gemm's alpha and beta, requantization and
    /// the fused activation.
    static func countMatrixOp(_ t: NodeTrace, format: WeightFormat, into c: inout OperationCounts) throws {
        let n = t.node, op = n.opType
        let wi = WeightFormat.weightInput(of: op) ?? 1
        func input(_ i: Int) throws -> ValueSummary {
            guard i < t.inputs.count, let v = t.inputs[i] else {
                throw EnergyError.invalidArgument("node '\(n.name)' (\(op)) has no input \(i); cannot count its multiply-adds")
            }
            return v
        }
        guard let out = t.outputs.first ?? nil else { return }
        let x = try input(0), w = try input(wi)
        let outElements = out.elementCount
        let integer = ["ConvInteger", "MatMulInteger", "QLinearConv", "QLinearMatMul"].contains(op)
        let p: Precision = integer ? .int8 : Precision(x.dtype)
        var dense: Int
        switch op {
        case "Conv", "ConvInteger", "QLinearConv":
            // Each output element: (in_channels / groups) × kernel elements = w[1] × w[2...].
            dense = outElements * w.shape.dropFirst().reduce(1, *)
        case "ConvTranspose":
            // Each input element scatters into (out_channels / groups) × kernel elements.
            dense = x.elementCount * w.shape.dropFirst().reduce(1, *)
        case "Gemm":
            let transA = try n.int("transA", default: 0) == 1
            let k = x.shape.count == 2 ? (transA ? x.shape[0] : x.shape[1]) : 0
            dense = outElements * k
        default:  // MatMul family: each output element is a dot product over A's last dimension.
            dense = outElements * (x.shape.count >= 1 ? x.shape.last! : 1)
        }
        if case .csr(let nonZeros, _) = format, w.elementCount > 0 {
            // Dense multiply-adds are (uses of each weight) × weight elements; only non-zeros run.
            dense = dense / w.elementCount * nonZeros
        }
        c.multiplyAdds(dense, p)

        let outP = Precision(out.dtype)
        let outCount = Double(outElements)
        switch op {
        case "Conv", "ConvTranspose":
            if t.inputs.count > 2, t.inputs[2] != nil { c.add(outCount, p) }
        case "Gemm":
            let alpha = try n.float("alpha", default: 1), beta = try n.float("beta", default: 1)
            if alpha != 1 { c.mult(outCount, p) }
            if t.inputs.count > 2, t.inputs[2] != nil, beta != 0 {
                c.add(outCount, p)
                if beta != 1 { c.mult(outCount, p) }
            }
        case "QLinearConv", "QLinearMatMul":
            // Bias (QLinearConv input 8) in int32, then requantization in floating point as the
            // engine does it: one fp32 multiply by the combined scale and one fp32 add of the
            // output zero point per output element.
            if op == "QLinearConv", t.inputs.count > 8, t.inputs[8] != nil { c.add(outCount, .int32) }
            c.mult(outCount, .fp32)
            c.add(outCount, .fp32)
        default:
            break
        }
        if let act = try FusedActivation(fusedIn: n) {
            let cost: (adds: Double, mults: Double)
            switch act {
            case .relu: cost = (1, 0)
            case .clip: cost = (2, 0)
            case .leakyRelu: cost = (1, 1)
            case .hardSigmoid: cost = (3, 1)
            case .hardSwish: cost = (3, 2)
            }
            c.add(outCount * cost.adds, outP)
            c.mult(outCount * cost.mults, outP)
        }
    }
}
