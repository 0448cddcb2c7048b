import FrugalCore

/// A dimension of a value's declared shape: a number, a named symbol (`batch`), or unknown.
public enum ShapeDimension: Hashable, Sendable, CustomStringConvertible {
    case fixed(Int)
    case symbolic(String)
    case unknown

    public var value: Int? { if case .fixed(let v) = self { return v } else { return nil } }
    public var description: String {
        switch self {
        case .fixed(let v): return String(v)
        case .symbolic(let s): return s
        case .unknown: return "?"
        }
    }
}

/// A named value's element type and shape, as a graph declares it.
public struct ValueInfo: Hashable, Sendable {
    public var name: String
    /// nil when the element type is not one Frugal computes with (`onnxType` then names it).
    public var dtype: DType?
    /// nil when even the rank is unknown.
    public var shape: [ShapeDimension]?
    /// The ONNX element type number (TensorProto.DataType), kept even where `dtype` is nil.
    public var onnxType: Int

    public init(name: String, dtype: DType?, shape: [ShapeDimension]?, onnxType: Int? = nil) {
        self.name = name
        self.dtype = dtype
        self.shape = shape
        self.onnxType = onnxType ?? dtype.map(ONNXDataType.code(for:)) ?? 0
    }

    public var shapeDescription: String {
        shape.map { "[" + $0.map(\.description).joined(separator: ", ") + "]" } ?? "[?]"
    }
}

/// A graph with ONNX semantics: the one model representation that importing, training,
/// compression, energy profiling and export all share.
public struct Graph: Sendable {
    public var name: String
    public var nodes: [Node]
    /// Inputs fed at run time (initializers are not listed here).
    public var inputs: [ValueInfo]
    public var outputs: [ValueInfo]
    /// Constant tensors by name (weights, biases, shape constants).
    public var initializers: [String: Tensor]
    /// Declared types of intermediate values, when the model has them.
    public var valueInfo: [String: ValueInfo]
    /// Opset version per domain ("" is the default ONNX domain).
    public var opsetImports: [String: Int]
    /// Frugal-only facts (early exits, masks, provenance); survive ONNX as metadata_props.
    public var metadata: [String: String]
    /// Initializers that training may update; all others are frozen.
    public var trainable: Set<String>
    public var producerName: String
    public var irVersion: Int

    public init(name: String = "graph", nodes: [Node] = [], inputs: [ValueInfo] = [], outputs: [ValueInfo] = [],
                initializers: [String: Tensor] = [:], valueInfo: [String: ValueInfo] = [:],
                opsetImports: [String: Int] = ["": 17], metadata: [String: String] = [:],
                trainable: Set<String> = [], producerName: String = "frugal", irVersion: Int = 8) {
        self.name = name
        self.nodes = nodes
        self.inputs = inputs
        self.outputs = outputs
        self.initializers = initializers
        self.valueInfo = valueInfo
        self.opsetImports = opsetImports
        self.metadata = metadata
        self.trainable = trainable
        self.producerName = producerName
        self.irVersion = irVersion
    }

    /// The default-domain opset version.
    public var opset: Int { opsetImports[""] ?? opsetImports["ai.onnx"] ?? 1 }

    /// Parameters: elements of all floating-point and integer initializers that are not
    /// shape-like constants (rank ≥ 1 and more than 8 elements, or any float tensor).
    public var parameterCount: Int {
        initializers.values.reduce(0) { acc, t in
            acc + ((t.dtype.isFloatingPoint || t.dtype == .int8 || t.dtype == .uint8) ? t.elementCount : 0)
        }
    }

    /// Node count per op type, most frequent first.
    public var opCounts: [(op: String, count: Int)] {
        var c: [String: Int] = [:]
        for n in nodes { c[n.opType, default: 0] += 1 }
        return c.sorted { $0.value != $1.value ? $0.value > $1.value : $0.key < $1.key }.map { ($0.key, $0.value) }
    }
}
