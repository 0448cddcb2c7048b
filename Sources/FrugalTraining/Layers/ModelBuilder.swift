import FrugalCore
import FrugalEngine

/// A value flowing through a model under construction: its name in the graph and its static
/// shape per example (the batch dimension, symbolic, is left out: [C, H, W] or [features]).
public struct Value: Sendable, Hashable, CustomStringConvertible {
    public let name: String
    public let dims: [Int]
    public init(name: String, dims: [Int]) {
        self.name = name
        self.dims = dims
    }
    public var description: String { "\(name)\(dims)" }
}

/// How a layer's weights start. Biases always start like PyTorch's: U(±1/√fan_in).
public enum WeightInit: Sendable, Hashable {
    /// PyTorch's default for Linear and Conv2d: Kaiming uniform with a = √5, that is U(±1/√fan_in).
    case pytorch
    /// He (Kaiming) uniform for ReLU: U(±√(6/fan_in)).
    case he
    /// Glorot (Xavier) uniform: U(±√(6/(fan_in + fan_out))).
    case glorot

    public func bound(fanIn: Int, fanOut: Int) -> Float {
        switch self {
        case .pytorch: return 1 / Float(fanIn).squareRoot()
        case .he: return (6 / Float(fanIn)).squareRoot()
        case .glorot: return (6 / Float(fanIn + fanOut)).squareRoot()
        }
    }
}

/// Builds a model graph layer by layer on top of ``GraphBuilder``: tracks each value's shape
/// so layers check their inputs and the zoo can size its heads, and initialises parameters
/// from its own seeded generator (equal seeds give equal weights).
///
/// ```swift
/// var m = ModelBuilder(name: "mlp", seed: 0)
/// var x = m.input("input", dims: [784])
/// x = try m.apply(Linear(784, 10, name: "fc"), x)
/// m.output(x)
/// let graph = m.finish()
/// ```
public struct ModelBuilder {
    public var builder: GraphBuilder
    public var rng: SeededGenerator
    /// The batch dimension of inputs and outputs.
    public let batch: ShapeDimension
    private var shapes: [String: [Int]] = [:]
    private var scopes: [String: Int] = [:]
    private var usedScopes: Set<String> = []
    private var scalarConstants: [Float: String] = [:]

    public init(name: String, seed: UInt64, opset: Int = 17, batch: ShapeDimension = .symbolic("N")) {
        builder = GraphBuilder(name: name, opset: opset)
        rng = SeededGenerator(seed: seed)
        self.batch = batch
    }

    /// The default-domain opset the graph declares (layers pick ops by it).
    public var opset: Int { builder.graph.opset }

    /// A parameter-name prefix not used yet: `name` if given (must be new), else "base", "base_1", ...
    public mutating func scope(_ name: String?, default base: String) -> String {
        if let n = name, !usedScopes.contains(n) {
            usedScopes.insert(n)
            return n
        }
        let stem = name ?? base
        var candidate = stem
        while usedScopes.contains(candidate) {
            scopes[stem, default: 0] += 1
            candidate = "\(stem)_\(scopes[stem]!)"
        }
        usedScopes.insert(candidate)
        return candidate
    }

    /// Declares a float32 graph input [batch] + dims.
    public mutating func input(_ name: String = "input", dims: [Int]) -> Value {
        let n = builder.input(name, dtype: .float32, shape: [batch] + dims.map { .fixed($0) })
        shapes[n] = dims
        return Value(name: n, dims: dims)
    }

    /// Declares `v` a graph output.
    public mutating func output(_ v: Value) {
        builder.output(v.name, dtype: .float32, shape: [batch] + v.dims.map { .fixed($0) })
    }

    /// A trainable float32 parameter drawn from U(-bound, bound) (bound 0 gives zeros).
    public mutating func parameter(_ name: String, shape: [Int], uniform bound: Float) -> String {
        let n = shape.reduce(1, *)
        var values = [Float](repeating: 0, count: n)
        if bound > 0 { for i in 0..<n { values[i] = rng.uniform(-bound, bound) } }
        return builder.initializer(name, try! Tensor(shape: Shape(shape), scalars: values), trainable: true)
    }

    /// A trainable float32 parameter filled with `value`.
    public mutating func parameter(_ name: String, shape: [Int], filled value: Float) -> String {
        builder.initializer(name, try! Tensor(shape: Shape(shape), scalars: [Float](repeating: value, count: shape.reduce(1, *))),
                            trainable: true)
    }

    /// A frozen initializer (running statistics, shape constants).
    public mutating func constant(_ name: String, _ tensor: Tensor) -> String {
        builder.initializer(name, tensor, trainable: false)
    }

    /// A float32 scalar constant, shared by every use of the same value.
    public mutating func scalar(_ value: Float) -> String {
        if let n = scalarConstants[value] { return n }
        let n = builder.initializer("const_\(value)".replacingOccurrences(of: ".", with: "_"), Tensor(scalar: value))
        scalarConstants[value] = n
        return n
    }

    /// Adds a node whose (first) output has per-example shape `dims`.
    public mutating func op(_ opType: String, _ inputs: [String], dims: [Int], name: String? = nil,
                            attributes: [String: AttributeValue] = [:]) -> Value {
        let out = builder.node(opType, inputs, name: name, attributes: attributes)
        shapes[out] = dims
        return Value(name: out, dims: dims)
    }

    /// Applies a layer.
    public mutating func apply(_ layer: any Layer, _ x: Value) throws -> Value {
        try layer.build(x, &self)
    }

    /// Applies layers in order.
    public mutating func apply(_ layers: [any Layer], _ x: Value) throws -> Value {
        var v = x
        for l in layers { v = try l.build(v, &self) }
        return v
    }

    /// Residual connection: elementwise Add of two values of one shape.
    public mutating func add(_ a: Value, _ b: Value, name: String? = nil) throws -> Value {
        guard a.dims == b.dims else {
            throw TrainingError.model("residual add of \(a) and \(b): shapes differ")
        }
        return op("Add", [a.name, b.name], dims: a.dims, name: name)
    }

    /// The graph, with the declared shapes of intermediate values in `valueInfo`.
    public func finish() -> Graph {
        var g = builder.graph
        let outputs = Set(g.outputs.map(\.name))
        for (name, dims) in shapes where g.initializers[name] == nil && !outputs.contains(name)
            && !g.inputs.contains(where: { $0.name == name }) {
            g.valueInfo[name] = ValueInfo(name: name, dtype: .float32, shape: [batch] + dims.map { .fixed($0) })
        }
        return g
    }
}

/// A layer: emits ONNX nodes and parameters for its input and returns its output.
public protocol Layer: Sendable {
    func build(_ x: Value, _ m: inout ModelBuilder) throws -> Value
}

/// Layers applied in order.
public struct Sequential: Layer {
    public var layers: [any Layer]
    public init(_ layers: [any Layer]) { self.layers = layers }
    public func build(_ x: Value, _ m: inout ModelBuilder) throws -> Value { try m.apply(layers, x) }
}
