import FrugalCore

/// Builds a ``Graph`` node by node with unique names: the model zoo, layers and tests use it.
///
/// ```swift
/// var b = GraphBuilder(name: "mlp")
/// let x = b.input("input", dtype: .float32, shape: [.symbolic("N"), .fixed(784)])
/// let w = b.initializer("fc1.weight", try Tensor(zeros: [784, 10]), trainable: true)
/// let y = b.node("Gemm", [x, w], attributes: ["transB": .int(0)])
/// b.output(y, dtype: .float32, shape: [.symbolic("N"), .fixed(10)])
/// let graph = b.graph
/// ```
public struct GraphBuilder {
    public private(set) var graph: Graph
    private var used: Set<String> = []
    private var counters: [String: Int] = [:]

    public init(name: String, opset: Int = 17) {
        graph = Graph(name: name, opsetImports: ["": opset])
    }

    /// A name not used yet, derived from `base` ("conv" -> "conv", "conv_1", ...).
    public mutating func uniqueName(_ base: String) -> String {
        var name = base
        while used.contains(name) {
            counters[base, default: 0] += 1
            name = "\(base)_\(counters[base]!)"
        }
        used.insert(name)
        return name
    }

    /// Declares a graph input and returns its value name.
    @discardableResult
    public mutating func input(_ name: String, dtype: DType, shape: [ShapeDimension]) -> String {
        let n = uniqueName(name)
        graph.inputs.append(ValueInfo(name: n, dtype: dtype, shape: shape))
        return n
    }

    /// Adds a constant tensor; trainable ones are what training updates.
    @discardableResult
    public mutating func initializer(_ name: String, _ tensor: Tensor, trainable: Bool = false) -> String {
        let n = uniqueName(name)
        graph.initializers[n] = tensor
        if trainable { graph.trainable.insert(n) }
        return n
    }

    /// Adds a node with one output; returns the output's value name.
    @discardableResult
    public mutating func node(_ opType: String, _ inputs: [String], name: String? = nil,
                              attributes: [String: AttributeValue] = [:]) -> String {
        node(opType, inputs, outputCount: 1, name: name, attributes: attributes)[0]
    }

    /// Adds a node with several outputs; returns their value names.
    public mutating func node(_ opType: String, _ inputs: [String], outputCount: Int, name: String? = nil,
                              attributes: [String: AttributeValue] = [:]) -> [String] {
        let nodeName = uniqueName(name ?? opType.lowercased())
        let outputs = (0..<outputCount).map { i in uniqueName(outputCount == 1 ? "\(nodeName)_out" : "\(nodeName)_out\(i)") }
        graph.nodes.append(Node(name: nodeName, opType: opType, inputs: inputs, outputs: outputs, attributes: attributes))
        return outputs
    }

    /// Declares a graph output.
    public mutating func output(_ value: String, dtype: DType, shape: [ShapeDimension]?) {
        graph.outputs.append(ValueInfo(name: value, dtype: dtype, shape: shape))
    }

    /// Sets a metadata entry (kept in ONNX as metadata_props).
    public mutating func setMetadata(_ key: String, _ value: String) { graph.metadata[key] = value }
}
