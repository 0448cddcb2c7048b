import FrugalCore
import FrugalEngine

/// Parameters and multiply-adds of a graph, per example.
///
/// - Parameters: elements of the trainable initializers (weights, biases, BatchNorm and
///   LayerNorm scale and bias); BatchNorm running statistics and scalar constants are not
///   parameters. A graph with no trainable set (an imported one) counts its floating-point
///   initializers instead, minus BatchNormalization's mean and variance inputs.
/// - Multiply-adds (MACs): those of Conv (out_h·out_w·out_c·(in_c/groups)·k_h·k_w), Gemm
///   (m·n·k) and MatMul (batch·m·n·k) only, for a batch of one. Bias additions, normalisation,
///   activations, pooling, residual adds and squeeze-excitation scaling are not counted, which
///   is how the MobileNet and EfficientNet papers count "mult-adds" (EfficientNet calls them FLOPs).
public struct ModelStats: Sendable, Hashable {
    public var parameters: Int
    public var macs: Int
    /// Conv, Gemm or MatMul nodes whose shapes could not be inferred (not in `macs`).
    public var uncountedNodes: [String]

    public init(graph: Graph) {
        parameters = ModelStats.countParameters(graph)
        (macs, uncountedNodes) = ModelStats.countMACs(graph)
    }

    static func countParameters(_ g: Graph) -> Int {
        if !g.trainable.isEmpty {
            return g.trainable.reduce(0) { $0 + (g.initializers[$1]?.elementCount ?? 0) }
        }
        var statistics = Set<String>()
        for n in g.nodes where n.opType == "BatchNormalization" { statistics.formUnion(n.inputs.dropFirst(3)) }
        return g.initializers.reduce(0) { acc, kv in
            acc + (kv.value.dtype.isFloatingPoint && kv.value.rank > 0 && !statistics.contains(kv.key) ? kv.value.elementCount : 0)
        }
    }

    static func countMACs(_ g: Graph) -> (Int, [String]) {
        var shapes: [String: [Int]] = [:]
        func dims(_ s: [ShapeDimension]?) -> [Int]? { s.map { $0.map { $0.value ?? 1 } } }  // symbolic batch -> 1
        for i in g.inputs { if let d = dims(i.shape) { shapes[i.name] = d } }
        for (n, t) in g.initializers { shapes[n] = t.shape.dims }
        func shape(_ name: String) -> [Int]? { shapes[name] ?? dims(g.valueInfo[name]?.shape) }
        var macs = 0
        var uncounted: [String] = []
        let order = (try? Planner.topologicalOrder(g)) ?? g.nodes
        for n in order {
            let ins = n.inputs.map { $0.isEmpty ? nil : shape($0) }
            let out = inferShape(n, ins)
            if let o = out, let first = n.outputs.first, !first.isEmpty { shapes[first] = o }
            switch n.opType {
            case "Conv":
                if let x = ins.first ?? nil, let w = ins.count > 1 ? ins[1] : nil, let o = out ?? shape(n.outputs[0]),
                   x.count >= 3, w.count == x.count {
                    // out elements × (in_c/groups · kernel elements) = out elements × w[1] × kernel.
                    macs += o.reduce(1, *) * w.dropFirst().reduce(1, *)
                } else { uncounted.append(n.name) }
            case "Gemm":
                if let a = ins.first ?? nil, let b = ins.count > 1 ? ins[1] : nil, a.count == 2, b.count == 2 {
                    let transA = (try? n.int("transA", default: 0)) ?? 0, transB = (try? n.int("transB", default: 0)) ?? 0
                    let m = transA == 0 ? a[0] : a[1], k = transA == 0 ? a[1] : a[0]
                    let nn = transB == 0 ? b[1] : b[0]
                    macs += m * nn * k
                } else { uncounted.append(n.name) }
            case "MatMul":
                if let a = ins.first ?? nil, let b = ins.count > 1 ? ins[1] : nil, let o = out ?? shape(n.outputs[0]), !a.isEmpty, !b.isEmpty {
                    macs += o.reduce(1, *) * a.last!
                    _ = b
                } else { uncounted.append(n.name) }
            default: break
            }
        }
        return (macs, uncounted)
    }

    /// Output shape of the ops the zoo and common CNNs use; nil where unknown.
    static func inferShape(_ n: Node, _ ins: [[Int]?]) -> [Int]? {
        guard let x = ins.first ?? nil else { return nil }
        func window(_ spatialFrom: Int, outChannels: Int, kernel: [Int]) -> [Int]? {
            let sp = x.count - 2
            guard sp >= 1, kernel.count == sp else { return nil }
            let strides = (try? n.ints("strides")) ?? nil ?? Array(repeating: 1, count: sp)
            let dil = (try? n.ints("dilations")) ?? nil ?? Array(repeating: 1, count: sp)
            let pads = (try? n.ints("pads")) ?? nil ?? Array(repeating: 0, count: 2 * sp)
            let autoPad = (try? n.string("auto_pad", default: "NOTSET")) ?? "NOTSET"
            let ceil = ((try? n.int("ceil_mode", default: 0)) ?? 0) == 1
            var out = [x[0], outChannels]
            for i in 0..<sp {
                let size = x[2 + i]
                if autoPad == "SAME_UPPER" || autoPad == "SAME_LOWER" {
                    out.append((size + strides[i] - 1) / strides[i])
                    continue
                }
                let p = autoPad == "VALID" ? 0 : pads[i] + pads[i + sp]
                let span = size + p - dil[i] * (kernel[i] - 1) - 1
                out.append((ceil ? (span + strides[i] - 1) / strides[i] : span / strides[i]) + 1)
            }
            return out
        }
        switch n.opType {
        case "Conv":
            guard ins.count > 1, let w = ins[1] else { return nil }
            return window(2, outChannels: w[0], kernel: ((try? n.ints("kernel_shape")) ?? nil) ?? Array(w.dropFirst(2)))
        case "MaxPool", "AveragePool", "LpPool":
            guard let k = (try? n.ints("kernel_shape")) ?? nil else { return nil }
            return window(2, outChannels: x[1], kernel: k)
        case "GlobalAveragePool", "GlobalMaxPool":
            return Array(x.prefix(2)) + Array(repeating: 1, count: max(0, x.count - 2))
        case "Gemm":
            guard ins.count > 1, let b = ins[1], x.count == 2, b.count == 2 else { return nil }
            let transA = (try? n.int("transA", default: 0)) ?? 0, transB = (try? n.int("transB", default: 0)) ?? 0
            return [transA == 0 ? x[0] : x[1], transB == 0 ? b[1] : b[0]]
        case "MatMul":
            guard ins.count > 1, let b = ins[1], !b.isEmpty else { return nil }
            if x.count == 1 && b.count == 1 { return [] }
            if b.count == 1 { return Array(x.dropLast()) }
            if x.count == 1 { return Array(b.dropLast(2)) + [b.last!] }
            let batchA = Array(x.dropLast(2)), batchB = Array(b.dropLast(2))
            guard let batch = try? Shape.broadcast(Shape(batchA), Shape(batchB)) else { return nil }
            return batch.dims + [x[x.count - 2], b.last!]
        case "Flatten":
            var axis = (try? n.int("axis", default: 1)) ?? 1
            if axis < 0 { axis += x.count }
            return [x.prefix(axis).reduce(1, *), x.dropFirst(axis).reduce(1, *)]
        case "Add", "Sub", "Mul", "Div", "Pow", "Max", "Min", "Sum", "Where":
            let known = ins.compactMap { $0 }
            guard known.count == ins.count, let s = try? Shape.broadcast(known.map { Shape($0) }) else { return nil }
            return s.dims
        case "Relu", "Clip", "Sigmoid", "Tanh", "HardSigmoid", "HardSwish", "LeakyRelu", "Gelu", "Erf", "Softmax",
             "LogSoftmax", "BatchNormalization", "LayerNormalization", "Dropout", "Identity", "Elu", "Selu",
             "Neg", "Exp", "Log", "Sqrt", "Abs", "Cast", "PRelu", "InstanceNormalization", "LRN":
            return x
        default:
            return nil
        }
    }
}
