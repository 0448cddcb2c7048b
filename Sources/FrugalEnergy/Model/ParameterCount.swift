import FrugalCore
import FrugalEngine

/// Which constants are a model's parameters, counted in elements.
///
/// Parameters are the constant inputs (initializers or Constant nodes) of rank ≥ 1 at the
/// weight positions of each op: Conv/ConvTranspose/Gemm weight and bias, MatMul operands,
/// the integer ops' weights and bias, normalisation scale and bias (BatchNormalization's
/// running mean and variance are statistics, not parameters), PRelu's slope, Gather's table,
/// and floating-point constants of elementwise Add/Sub/Mul/Div (biases of MatMul+Add graphs).
/// Quantization scales and zero points, shapes, pads and clip bounds are not parameters.
///
/// "As exported" counts the graph as its file holds it, each constant once: a PyTorch export
/// of MobileNetV2 has BatchNormalization already folded into the convolutions, so it has
/// 3,487,816 parameters, where torchvision's module (BatchNorm weight and bias kept) has
/// 3,504,872. The per-layer figures count the executed graph, after the engine's own folding.
public enum ParameterCount {
    /// Input positions holding parameters, and whether only floating-point constants count there.
    static func positions(_ opType: String) -> (inputs: [Int], floatOnly: Bool) {
        switch opType {
        case "Conv", "ConvTranspose", "Gemm": return ([1, 2], false)
        case "MatMul", "MatMulInteger": return ([0, 1], false)
        case "ConvInteger": return ([1], false)
        case "QLinearConv": return ([3, 8], false)
        case "QLinearMatMul": return ([0, 3], false)
        case "BatchNormalization", "LayerNormalization", "InstanceNormalization", "GroupNormalization": return ([1, 2], false)
        case "PRelu": return ([1], false)
        case "Gather": return ([0], false)
        case "Add", "Sub", "Mul", "Div": return ([0, 1], true)
        default: return ([], false)
        }
    }

    /// Positions of `node`'s inputs that are parameters, given which inputs are constant
    /// (with their type and shape).
    static func parameterInputs(_ node: Node, constants: [ValueSummary?]) -> [Int] {
        let (inputs, floatOnly) = positions(node.opType)
        return inputs.filter { i in
            guard i < constants.count, let v = constants[i], !v.shape.isEmpty else { return false }
            return !floatOnly || v.dtype.isFloatingPoint
        }
    }

    /// Parameters of one executed node.
    public static func of(_ trace: NodeTrace) -> Int {
        let constants = trace.inputs.enumerated().map { i, v in i < trace.inputIsConstant.count && trace.inputIsConstant[i] ? v : nil }
        return parameterInputs(trace.node, constants: constants).reduce(0) { $0 + (trace.inputs[$1]?.elementCount ?? 0) }
    }

    /// Parameters of a graph as exported: initializers and Constant-node tensors at parameter
    /// positions, each counted once.
    public static func exported(_ graph: Graph) -> Int {
        var constants: [String: Tensor] = graph.initializers
        for n in graph.nodes where n.opType == "Constant" && n.outputs.count == 1 {
            if let t = try? n.tensor("value") { constants[n.outputs[0]] = t }
        }
        var counted = Set<String>()
        var total = 0
        for n in graph.nodes {
            let summaries = n.inputs.map { name in constants[name].map { ValueSummary(dtype: $0.dtype, shape: $0.shape.dims) } }
            for i in parameterInputs(n, constants: summaries) where counted.insert(n.inputs[i]).inserted {
                total += constants[n.inputs[i]]!.elementCount
            }
        }
        return total
    }
}
