import FrugalCore

/// Running a batch as a series of one-sample runs, when that gives the same result.
///
/// Why: a convolutional network's activations for a batch of 8 images do not fit the caches
/// that one image's do, and every layer then streams them from memory. Measured on
/// MobileNetV2 (1 thread): 7.2 ms per image at batch 8 run whole against 5.6 ms at batch 1.
/// Run one image at a time (and, with T threads, T images at once, one per thread) the
/// batch costs what its images cost alone.
///
/// When: every node must treat the rows of axis 0 of its batched inputs independently
/// (the ops below, under the conditions checked), so that the outputs of the sample runs,
/// concatenated along axis 0, are the batch's outputs. Graphs that mix samples (a
/// reduction over axis 0, Shape, a Reshape that moves the batch, ...) are run whole. Only
/// inputs of at least `minimumSampleElements` per sample are split: small samples (an MLP,
/// LeNet) fit the caches anyway and would lose more to per-run overhead than they gain.
enum BatchSplit {
    /// Per-sample input elements from which a batch is split (64 KiB of float32).
    static let minimumSampleElements = 16 * 1024

    /// Ops that act on each row of axis 0 on their own, whatever the other inputs (which
    /// must not be batched unless listed as data inputs).
    static let unary: Set<String> = [
        "Relu", "Clip", "LeakyRelu", "Sigmoid", "HardSigmoid", "HardSwish", "Tanh", "Elu", "Selu", "Softplus",
        "Softsign", "Gelu", "Erf", "Exp", "Log", "Sqrt", "Abs", "Neg", "Reciprocal", "Identity", "Dropout", "Cast",
        "Floor", "Ceil", "Round", "Sign", "Mish", "PRelu", "Conv", "ConvTranspose", "BatchNormalization",
        "InstanceNormalization", "LRN", "MaxPool", "AveragePool", "GlobalAveragePool", "GlobalMaxPool", "QLinearConv",
        "ConvInteger",
    ]
    static let broadcasting: Set<String> = ["Add", "Sub", "Mul", "Div", "Pow", "Max", "Min", "Sum", "Mean"]

    /// Whether `graph` (optimised) can run sample by sample: its ranks are known from the
    /// declared input shapes and every node passes the rules above.
    static func isSeparable(_ graph: Graph) -> Bool {
        var rank: [String: Int] = [:]  // batched values and their ranks
        let inputs = graph.inputs.filter { graph.initializers[$0.name] == nil }
        guard !inputs.isEmpty else { return false }
        for i in inputs {
            guard let dims = i.shape, !dims.isEmpty else { return false }
            rank[i.name] = dims.count
        }
        guard let order = try? Planner.topologicalOrder(graph) else { return false }
        for node in order {
            let batched = node.inputs.filter { rank[$0] != nil }
            if batched.isEmpty {
                // Anything computed from constants only must have been folded; a node with
                // no batched input that survives (a random generator, ...) is not understood.
                return false
            }
            guard node.domain.isEmpty || node.domain == "ai.onnx" || node.domain == Fusions.blockDomain else { return false }
            guard let r = outputRank(node, graph: graph, rank: rank) else { return false }
            for o in node.outputs where !o.isEmpty { rank[o] = r }
        }
        return graph.outputs.allSatisfy { rank[$0.name] != nil }
    }

    /// The rank of `node`'s outputs if it keeps samples apart, else nil.
    static func outputRank(_ node: Node, graph: Graph, rank: [String: Int]) -> Int? {
        let ins = node.inputs
        func constant(_ i: Int) -> Tensor? { i < ins.count && !ins[i].isEmpty ? graph.initializers[ins[i]] : nil }
        func isBatched(_ i: Int) -> Bool { i < ins.count && rank[ins[i]] != nil }
        func attr(_ k: String, _ d: Int) -> Int? { try? node.int(k, default: d) }
        let op = node.opType
        if node.domain == Fusions.blockDomain {
            // A fused block (ConvBlockFusion.swift): X first, then weights and biases, and a
            // residual of the output's shape last when the project Conv had one.
            guard op == Fusions.blockOpType, isBatched(0), let body = try? ConvBlockOperator.body(node) else { return nil }
            let residual = body.count == 3 && body[2].inputs.count > 3 ? body[2].inputs[3] : ""
            for (i, name) in ins.enumerated() where i > 0 && !name.isEmpty && isBatched(i) {
                guard name == residual else { return nil }
            }
            return rank[ins[0]]
        }
        if unary.contains(op) {
            // The data input first; the rest constants (Conv's engine-internal residual, the
            // fourth input of a fused Conv, is batched data of the same shape).
            guard isBatched(0) else { return nil }
            for i in 1..<max(ins.count, 1) where !ins[i].isEmpty && isBatched(i) {
                guard op == "Conv", i == 3 else { return nil }
            }
            return rank[ins[0]]
        }
        if broadcasting.contains(op) {
            let r = ins.compactMap { rank[$0] }.max() ?? 0
            for (i, name) in ins.enumerated() where !name.isEmpty && rank[name] == nil {
                guard let t = constant(i) else { return nil }
                // A constant broadcast against the data must not reach axis 0 with more than 1.
                guard t.rank < r || (t.rank == r && t.shape[0] == 1) else { return nil }
            }
            return r
        }
        switch op {
        case "Gemm":
            guard isBatched(0), !isBatched(1), !isBatched(2), attr("transA", 0) == 0 else { return nil }
            if let c = constant(2), c.rank == 2, c.shape[0] != 1 { return nil }
            return 2
        case "MatMul":
            guard isBatched(0), let r = rank[ins[0]], r >= 2, constant(1) != nil else { return nil }
            return max(r, constant(1)!.rank)
        case "Flatten":
            guard let r = rank[ins[0]], let a = attr("axis", 1) else { return nil }
            return (a < 0 ? a + r : a) >= 1 ? 2 : nil
        case "Softmax", "LogSoftmax":
            guard let r = rank[ins[0]], let a = attr("axis", graph.opset >= 13 ? -1 : 1) else { return nil }
            return (a < 0 ? a + r : a) >= 1 ? r : nil
        case "Concat":
            guard ins.allSatisfy({ rank[$0] != nil }), let r = rank[ins[0]], let a = attr("axis", 0) else { return nil }
            return (a < 0 ? a + r : a) >= 1 ? r : nil
        case "Transpose":
            guard let r = rank[ins[0]], let perm = try? node.ints("perm"), perm.first == 0 else { return nil }
            return r
        case "Reshape":
            // Shape [0 or -1, positive...]: axis 0 stays the sample axis.
            guard isBatched(0), let s = constant(1), attr("allowzero", 0) == 0 else { return nil }
            let v = s.floatScalars().map { Int($0) }
            guard let first = v.first, first == 0 || first == -1, v.dropFirst().allSatisfy({ $0 > 0 }) else { return nil }
            return v.count
        default:
            return nil
        }
    }

    /// The number of samples of `feeds` when all of them share axis 0 and each sample is
    /// large enough to be worth splitting; nil otherwise.
    static func sampleCount(_ feeds: [String: Tensor]) -> Int? {
        var n: Int? = nil
        var sampleElements = 0
        for t in feeds.values {
            guard t.rank >= 1 else { return nil }
            if n == nil { n = t.shape[0] } else if n != t.shape[0] { return nil }
            sampleElements += t.shape[0] == 0 ? 0 : t.elementCount / t.shape[0]
        }
        guard let n, n > 1, sampleElements >= minimumSampleElements else { return nil }
        return n
    }

    /// Sample `i` of `t` (axis 0), as a tensor of its own.
    static func sample(_ t: Tensor, _ i: Int) throws -> Tensor {
        var dims = t.shape.dims
        let rowBytes = t.byteCount / dims[0]
        dims[0] = 1
        var out = try Tensor(zeros: Shape(dims), dtype: t.dtype)
        t.withUnsafeRawBytes { src in
            out.withUnsafeMutableRawBytes { dst in
                dst.baseAddress!.copyMemory(from: src.baseAddress! + i * rowBytes, byteCount: rowBytes)
            }
        }
        return out
    }

    /// The tensors of `parts` (same element type, same shape after axis 0) one after the
    /// other along axis 0.
    static func concatenate(_ parts: [Tensor]) throws -> Tensor {
        var dims = parts[0].shape.dims
        for p in parts where p.dtype != parts[0].dtype || p.rank != dims.count || p.shape.dims.dropFirst() != dims.dropFirst() {
            throw EngineError.invalidGraph("sample runs gave outputs of different shapes (\(parts[0].shape) and \(p.shape)); run this graph with SessionOptions(splitBatch: false)")
        }
        dims[0] = parts.reduce(0) { $0 + $1.shape[0] }
        var out = try Tensor(zeros: Shape(dims), dtype: parts[0].dtype)
        out.withUnsafeMutableRawBytes { dst in
            var offset = 0
            for p in parts {
                p.withUnsafeRawBytes { src in
                    dst.baseAddress!.advanced(by: offset).copyMemory(from: src.baseAddress!, byteCount: src.count)
                    offset += src.count
                }
            }
        }
        return out
    }
}
