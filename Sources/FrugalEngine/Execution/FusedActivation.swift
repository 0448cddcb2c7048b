import FrugalCore

/// An activation fused into the op before it. Conv, Gemm and MatMul read it from their node
/// (attribute `frugal.activation`, with `frugal.alpha` / `frugal.beta`) and apply it while the
/// output is still in cache: Relu and Clip as the GEMM's clamp, the others as a pass over the
/// output tile.
public enum FusedActivation: Equatable, Sendable {
    case relu
    case clip(min: Float, max: Float)
    case leakyRelu(alpha: Float)
    case hardSigmoid(alpha: Float, beta: Float)
    case hardSwish

    static let key = "frugal.activation"

    /// The fused activation of a node, if any.
    public init?(fusedIn node: Node) throws {
        guard let kind = try node.string(Self.key) else { return nil }
        let a = try node.float("frugal.alpha", default: 0), b = try node.float("frugal.beta", default: 0)
        switch kind {
        case "Relu": self = .relu
        case "Clip": self = .clip(min: a, max: b)
        case "LeakyRelu": self = .leakyRelu(alpha: a)
        case "HardSigmoid": self = .hardSigmoid(alpha: a, beta: b)
        case "HardSwish": self = .hardSwish
        default: throw node.fail("unknown fused activation '\(kind)'")
        }
    }

    /// The activation an activation node computes, or nil when it is not fusable (e.g. Clip
    /// with bounds computed at run time).
    init?(node: Node, initializers: [String: Tensor]) throws {
        switch node.opType {
        case "Relu": self = .relu
        case "LeakyRelu": self = .leakyRelu(alpha: try node.float("alpha", default: 0.01))
        case "HardSigmoid":
            self = .hardSigmoid(alpha: try node.float("alpha", default: 0.2), beta: try node.float("beta", default: 0.5))
        case "HardSwish": self = .hardSwish
        case "Clip":
            var lo = -Float.greatestFiniteMagnitude, hi = Float.greatestFiniteMagnitude
            if let v = try node.float("min") { lo = v }
            if let v = try node.float("max") { hi = v }
            for (i, isMin) in [(1, true), (2, false)] where node.inputs.count > i && !node.inputs[i].isEmpty {
                guard let t = initializers[node.inputs[i]], t.dtype == .float32, t.elementCount == 1 else { return nil }
                if isMin { lo = t.scalars(as: Float.self)[0] } else { hi = t.scalars(as: Float.self)[0] }
            }
            self = .clip(min: lo, max: hi)
        default: return nil
        }
    }

    func store(in node: inout Node) {
        switch self {
        case .relu: node.attributes[Self.key] = .string("Relu")
        case .clip(let lo, let hi):
            node.attributes[Self.key] = .string("Clip")
            node.attributes["frugal.alpha"] = .float(lo)
            node.attributes["frugal.beta"] = .float(hi)
        case .leakyRelu(let a):
            node.attributes[Self.key] = .string("LeakyRelu")
            node.attributes["frugal.alpha"] = .float(a)
        case .hardSigmoid(let a, let b):
            node.attributes[Self.key] = .string("HardSigmoid")
            node.attributes["frugal.alpha"] = .float(a)
            node.attributes["frugal.beta"] = .float(b)
        case .hardSwish: node.attributes[Self.key] = .string("HardSwish")
        }
    }

    /// The bounds when the activation is a clamp (a GEMM epilogue can apply it for free).
    public var clampRange: ClosedRange<Float>? {
        switch self {
        case .relu: return 0...Float.greatestFiniteMagnitude
        case .clip(let lo, let hi): return lo <= hi ? lo...hi : nil
        default: return nil
        }
    }

    /// Applies the activation in place.
    public func apply(_ p: UnsafeMutablePointer<Float>, count: Int) {
        switch self {
        case .relu: for i in 0..<count { p[i] = max(p[i], 0) }
        case .clip(let lo, let hi): for i in 0..<count { p[i] = min(max(p[i], lo), hi) }
        case .leakyRelu(let a): for i in 0..<count { p[i] = p[i] < 0 ? p[i] * a : p[i] }
        case .hardSigmoid(let a, let b): for i in 0..<count { p[i] = min(max(a * p[i] + b, 0), 1) }
        case .hardSwish: for i in 0..<count { p[i] = p[i] * min(max(p[i] / 6 + 0.5, 0), 1) }
        }
    }
}
