import Foundation
import FrugalCore
import FrugalEngine
import SwiftProtobuf

/// Writes a ``Graph`` as an ONNX model that other runtimes load.
public enum ONNXExporter {
    /// The model bytes. Graphs below opset 17 keep their own opset (their ops follow its
    /// semantics); Frugal-built graphs are opset 17 or later.
    public static func encode(_ graph: Graph) throws -> Data {
        var model = Onnx_ModelProto()
        model.irVersion = Int64(max(graph.irVersion, 8))
        model.producerName = "frugal"
        model.producerVersion = FrugalVersion.string
        for (domain, version) in graph.opsetImports.sorted(by: { $0.key < $1.key }) {
            var o = Onnx_OperatorSetIdProto()
            o.domain = domain
            o.version = Int64(version)
            model.opsetImport.append(o)
        }
        var metadata = graph.metadata
        if !graph.trainable.isEmpty { metadata["frugal.trainable"] = graph.trainable.sorted().joined(separator: ",") }
        model.metadataProps = metadata.sorted { $0.key < $1.key }.map {
            var e = Onnx_StringStringEntryProto()
            e.key = $0.key
            e.value = $0.value
            return e
        }
        model.graph = try graphProto(graph)
        return try model.serializedBytes()
    }

    /// Writes the model through a temporary file and a rename.
    public static func write(_ graph: Graph, path: String) throws {
        let data = try encode(graph)
        do { try data.write(to: URL(fileURLWithPath: path), options: .atomic) } catch {
            throw ONNXError.write(path: path, reason: error.localizedDescription)
        }
    }

    static func graphProto(_ graph: Graph) throws -> Onnx_GraphProto {
        var g = Onnx_GraphProto()
        g.name = graph.name
        g.initializer = graph.initializers.sorted { $0.key < $1.key }.map { TensorProtoConversion.proto(from: $0.value, name: $0.key) }
        g.input = graph.inputs.map(valueInfoProto)
        g.output = graph.outputs.map(valueInfoProto)
        g.valueInfo = graph.valueInfo.values.sorted { $0.name < $1.name }.map(valueInfoProto)
        g.node = try graph.nodes.map { n in
            // The planner's fused nodes (a Conv with a folded residual input, an activation in
            // an attribute) are not ONNX: other runtimes would ignore the attribute and compute
            // something else. Export the graph as built or imported, before Session optimises it.
            if n.domain == "ai.frugal" {
                throw ONNXError.invalidModel(
                    path: graph.name.isEmpty ? "graph" : graph.name,
                    reason: "node '\(n.name)' is the engine-internal fused op ai.frugal.\(n.opType) from graph optimisation; export the graph before it is optimised (Session.sourceGraph; Session.graph is the optimised one)")
            }
            if n.domain.isEmpty, let key = n.attributes.keys.sorted().first(where: { $0.hasPrefix("frugal.") }) {
                throw ONNXError.invalidModel(
                    path: graph.name.isEmpty ? "graph" : graph.name,
                    reason: "node '\(n.name)' (\(n.opType)) carries the engine-internal attribute '\(key)' from graph optimisation; export the graph before it is optimised (Session.sourceGraph; Session.graph is the optimised one)")
            }
            var p = Onnx_NodeProto()
            p.name = n.name
            p.opType = n.opType
            if !n.domain.isEmpty { p.domain = n.domain }
            p.input = n.inputs
            p.output = n.outputs
            p.attribute = try n.attributes.sorted { $0.key < $1.key }.map { try attributeProto($0.key, $0.value) }
            return p
        }
        return g
    }

    static func valueInfoProto(_ v: ValueInfo) -> Onnx_ValueInfoProto {
        var p = Onnx_ValueInfoProto()
        p.name = v.name
        var tt = Onnx_TypeProto.Tensor()
        tt.elemType = Int32(v.onnxType)
        if let dims = v.shape {
            var s = Onnx_TensorShapeProto()
            s.dim = dims.map { d in
                var x = Onnx_TensorShapeProto.Dimension()
                switch d {
                case .fixed(let n): x.dimValue = Int64(n)
                case .symbolic(let name): x.dimParam = name
                case .unknown: break
                }
                return x
            }
            tt.shape = s
        }
        p.type.tensorType = tt
        return p
    }

    static func attributeProto(_ name: String, _ value: AttributeValue) throws -> Onnx_AttributeProto {
        var a = Onnx_AttributeProto()
        a.name = name
        switch value {
        case .int(let v): a.type = .int; a.i = Int64(v)
        case .float(let v): a.type = .float; a.f = v
        case .string(let v): a.type = .string; a.s = Data(v.utf8)
        case .tensor(let t): a.type = .tensor; a.t = TensorProtoConversion.proto(from: t, name: "")
        case .ints(let v): a.type = .ints; a.ints = v.map(Int64.init)
        case .floats(let v): a.type = .floats; a.floats = v
        case .strings(let v): a.type = .strings; a.strings = v.map { Data($0.utf8) }
        case .graph(let g): a.type = .graph; a.g = try graphProto(g)
        }
        return a
    }
}
