import Foundation
import FrugalCore
import FrugalEngine
import SwiftProtobuf

/// Reads ONNX models (opset 11 to 21 for the default domain) into a ``Graph``.
public enum ONNXImporter {
    /// Default-domain opsets the importer accepts. Ops are versioned one by one: each
    /// ``OperatorSchema`` states the opset range whose semantics it implements, so a model at a
    /// newer opset runs only where every one of its ops is covered.
    public static let opsetRange = 1...27

    /// Loads a model file; external data files are read from the model's folder.
    public static func load(path: String) throws -> Graph {
        let url = URL(fileURLWithPath: path)
        let data: Data
        do { data = try Data(contentsOf: url, options: .mappedIfSafe) } catch {
            throw ONNXError.malformed(path: path, reason: "cannot read the file: \(error.localizedDescription)")
        }
        return try decode(data, path: path, baseDirectory: url.deletingLastPathComponent())
    }

    /// Decodes model bytes; `path` names the source in errors.
    public static func decode(_ data: Data, path: String = "<memory>", baseDirectory: URL? = nil) throws -> Graph {
        guard !data.isEmpty else { throw ONNXError.malformed(path: path, reason: "the file is empty") }
        let model: Onnx_ModelProto
        do {
            var options = BinaryDecodingOptions()
            options.messageDepthLimit = 64
            model = try Onnx_ModelProto(serializedBytes: data, options: options)
        } catch {
            throw ONNXError.malformed(path: path, reason: "protobuf decoding failed (\(error)); the file is truncated, corrupted or not ONNX")
        }
        guard model.hasGraph else {
            throw ONNXError.malformed(path: path, reason: "the model has no graph; the file is truncated, corrupted or not ONNX")
        }
        var opsets: [String: Int] = [:]
        for o in model.opsetImport { opsets[o.domain == "ai.onnx" ? "" : o.domain] = Int(o.version) }
        if opsets[""] == nil { opsets[""] = model.irVersion >= 3 ? 1 : 1 }
        let opset = opsets[""]!
        guard opsetRange.contains(opset) else {
            throw ONNXError.invalidModel(path: path, reason: "default-domain opset \(opset) is outside what Frugal reads (\(opsetRange.lowerBound)-\(opsetRange.upperBound)); convert it with onnx.version_converter")
        }
        var graph = try convert(model.graph, path: path, baseDirectory: baseDirectory)
        graph.opsetImports = opsets
        graph.irVersion = Int(model.irVersion)
        graph.producerName = model.producerName
        for m in model.metadataProps { graph.metadata[m.key] = m.value }
        if let t = graph.metadata["frugal.trainable"] {
            graph.trainable = Set(t.split(separator: ",").map(String.init))
        }
        return graph
    }

    static func convert(_ g: Onnx_GraphProto, path: String, baseDirectory: URL?) throws -> Graph {
        var graph = Graph(name: g.name)
        for t in g.initializer {
            guard !t.name.isEmpty else { throw ONNXError.invalidModel(path: path, reason: "an initializer has no name") }
            graph.initializers[t.name] = try TensorProtoConversion.tensor(from: t, path: path, baseDirectory: baseDirectory)
        }
        if !g.sparseInitializer.isEmpty {
            for s in g.sparseInitializer {
                graph.initializers[s.values.name] = try sparseToDense(s, path: path, baseDirectory: baseDirectory)
            }
        }
        graph.inputs = try g.input.map { try valueInfo($0, path: path) }
        graph.outputs = try g.output.map { try valueInfo($0, path: path) }
        for v in g.valueInfo { graph.valueInfo[v.name] = try valueInfo(v, path: path) }
        var names = Set<String>()
        for (i, n) in g.node.enumerated() {
            var name = n.name.isEmpty ? "\(n.opType)_\(i)" : n.name
            if names.contains(name) { name += "_\(i)" }
            names.insert(name)
            var attributes: [String: AttributeValue] = [:]
            for a in n.attribute {
                attributes[a.name] = try attribute(a, node: name, path: path, baseDirectory: baseDirectory)
            }
            let node = Node(name: name, opType: n.opType, domain: n.domain == "ai.onnx" ? "" : n.domain,
                            inputs: n.input, outputs: n.output, attributes: attributes)
            // A Constant is an initializer written as a node (PaddlePaddle stores all weights so):
            // keep one representation, so weights are weights wherever they came from.
            if node.opType == "Constant", node.domain.isEmpty, node.outputs.count == 1,
               !g.output.contains(where: { $0.name == node.outputs[0] }), let t = constantValue(node) {
                graph.initializers[node.outputs[0]] = t
                continue
            }
            graph.nodes.append(node)
        }
        return graph
    }

    /// The tensor a Constant node produces, or nil for the forms left to the engine.
    static func constantValue(_ node: Node) -> Tensor? {
        switch (node.attributes["value"], node.attributes["value_float"], node.attributes["value_floats"],
                node.attributes["value_int"], node.attributes["value_ints"]) {
        case (.tensor(let t)?, _, _, _, _): return t
        case (_, .float(let f)?, _, _, _): return Tensor(scalar: f)
        case (_, _, .floats(let fs)?, _, _): return try? Tensor(shape: [fs.count], scalars: fs)
        case (_, _, _, .int(let i)?, _): return Tensor(scalar: Int64(i))
        case (_, _, _, _, .ints(let v)?): return try? Tensor(shape: [v.count], scalars: v.map(Int64.init))
        default: return nil
        }
    }

    static func valueInfo(_ v: Onnx_ValueInfoProto, path: String) throws -> ValueInfo {
        guard case .tensorType(let tt)? = v.type.value else {
            // Sequences, maps and optionals are not tensors: keep the name, no type.
            return ValueInfo(name: v.name, dtype: nil, shape: nil, onnxType: 0)
        }
        let code = Int(tt.elemType)
        var shape: [ShapeDimension]? = nil
        if tt.hasShape {
            shape = tt.shape.dim.map { d in
                switch d.value {
                case .dimValue(let x)?: return x >= 0 ? .fixed(Int(x)) : .unknown
                case .dimParam(let s)?: return s.isEmpty ? .unknown : .symbolic(s)
                case nil: return .unknown
                }
            }
        }
        return ValueInfo(name: v.name, dtype: ONNXDataType.dtype(for: code), shape: shape, onnxType: code)
    }

    static func attribute(_ a: Onnx_AttributeProto, node: String, path: String, baseDirectory: URL?) throws -> AttributeValue {
        switch a.type {
        case .float: return .float(a.f)
        case .int: return .int(Int(a.i))
        case .string: return .string(String(decoding: a.s, as: UTF8.self))
        case .tensor: return .tensor(try TensorProtoConversion.tensor(from: a.t, path: path, baseDirectory: baseDirectory))
        case .floats: return .floats(a.floats)
        case .ints: return .ints(a.ints.map { Int($0) })
        case .strings: return .strings(a.strings.map { String(decoding: $0, as: UTF8.self) })
        case .graph: return .graph(try convert(a.g, path: path, baseDirectory: baseDirectory))
        case .sparseTensor:
            return .tensor(try sparseToDense(a.sparseTensor, path: path, baseDirectory: baseDirectory))
        default:
            // Older files may leave `type` unset; infer it from the field that is present.
            if a.hasF { return .float(a.f) }
            if a.hasI { return .int(Int(a.i)) }
            if a.hasS { return .string(String(decoding: a.s, as: UTF8.self)) }
            if a.hasT { return .tensor(try TensorProtoConversion.tensor(from: a.t, path: path, baseDirectory: baseDirectory)) }
            if !a.ints.isEmpty { return .ints(a.ints.map { Int($0) }) }
            if !a.floats.isEmpty { return .floats(a.floats) }
            throw ONNXError.invalidModel(path: path, reason: "node '\(node)': attribute '\(a.name)' has type \(a.type.rawValue), which Frugal does not read")
        }
    }

    /// Expands a SparseTensorProto (COO indices, flat or [nnz, rank]) to a dense tensor.
    static func sparseToDense(_ s: Onnx_SparseTensorProto, path: String, baseDirectory: URL?) throws -> Tensor {
        let name = s.values.name
        let values = try TensorProtoConversion.tensor(from: s.values, path: path, baseDirectory: baseDirectory)
        let indices = try TensorProtoConversion.tensor(from: s.indices, path: path, baseDirectory: baseDirectory)
        let shape = Shape(s.dims.map { Int($0) })
        var dense = try Tensor(zeros: shape, dtype: values.dtype)
        let nnz = values.elementCount
        guard indices.dtype == .int64 else { throw ONNXError.tensor(path: path, name: name, reason: "sparse indices must be int64") }
        let idx = indices.scalars(as: Int64.self)
        let total = shape.elementCount
        let strides = shape.strides
        var flat: [Int] = []
        if idx.count == nnz {
            flat = idx.map { Int($0) }
        } else if idx.count == nnz * shape.rank {
            for i in 0..<nnz { flat.append((0..<shape.rank).reduce(0) { $0 + Int(idx[i * shape.rank + $1]) * strides[$1] }) }
        } else {
            throw ONNXError.tensor(path: path, name: name, reason: "sparse indices hold \(idx.count) values for \(nnz) non-zeros of rank \(shape.rank)")
        }
        guard flat.allSatisfy({ $0 >= 0 && $0 < total }) else {
            throw ONNXError.tensor(path: path, name: name, reason: "a sparse index lies outside shape \(shape)")
        }
        let size = values.dtype.byteSize
        values.withUnsafeRawBytes { src in
            dense.withUnsafeMutableRawBytes { dst in
                for (i, f) in flat.enumerated() {
                    dst.baseAddress!.advanced(by: f * size).copyMemory(from: src.baseAddress!.advanced(by: i * size), byteCount: size)
                }
            }
        }
        return dense
    }
}
