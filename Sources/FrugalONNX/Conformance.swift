import Foundation
import FrugalCore
import FrugalEngine

/// Runs ONNX's backend node tests (`onnx/backend/test/data/node/<case>/model.onnx` with
/// `test_data_set_*/input_*.pb` and `output_*.pb`) through the engine.
///
/// A case is *skipped* when Frugal does not claim it: an op it does not implement, an input or
/// output element type it does not compute with, an op's input type outside the op's declared
/// types, or an opset outside the op's range. Every other case must pass within the
/// tolerances of ONNX's own backend test runner (rtol 1e-3, atol 1e-7).
public enum Conformance {
    public enum Outcome: Sendable, Equatable {
        case passed
        case failed(String)
        case skipped(String)
    }

    public struct CaseResult: Sendable {
        public let name: String
        public let outcome: Outcome
    }

    public struct Summary: Sendable {
        public var results: [CaseResult] = []
        public var passed: Int { results.filter { $0.outcome == .passed }.count }
        public var failed: [CaseResult] { results.filter { if case .failed = $0.outcome { return true } else { return false } } }
        public var skipped: [CaseResult] { results.filter { if case .skipped = $0.outcome { return true } else { return false } } }

        /// Skip reasons with their case counts, most frequent first.
        public var skipReasons: [(reason: String, count: Int)] {
            var c: [String: Int] = [:]
            for r in results { if case .skipped(let why) = r.outcome { c[why, default: 0] += 1 } }
            return c.sorted { $0.value != $1.value ? $0.value > $1.value : $0.key < $1.key }.map { ($0.key, $0.value) }
        }
    }

    /// Cases that Frugal's claims would cover but that cannot pass by design, each with why.
    public static let knownExclusions: [String: String] = [:]

    public static let relativeTolerance: Float = 1e-3
    public static let absoluteTolerance: Float = 1e-7

    /// Runs every case folder under `directory` whose name matches `filter` (substring).
    public static func run(directory: String, filter: String? = nil, threads: Int = 1,
                           progress: ((Int, Int) -> Void)? = nil) throws -> Summary {
        let fm = FileManager.default
        guard let names = try? fm.contentsOfDirectory(atPath: directory) else {
            throw ONNXError.invalidModel(path: directory, reason: "cannot list the node-test folder; fetch it with scripts/fetch_onnx_node_tests.sh")
        }
        let cases = names.filter { $0.hasPrefix("test_") && (filter == nil || $0.contains(filter!)) }.sorted()
        var summary = Summary()
        for (i, name) in cases.enumerated() {
            progress?(i, cases.count)
            let outcome = runCase(URL(fileURLWithPath: directory).appendingPathComponent(name), threads: threads)
            summary.results.append(CaseResult(name: name, outcome: outcome))
        }
        return summary
    }

    /// Runs one case folder.
    public static func runCase(_ dir: URL, threads: Int = 1) -> Outcome {
        if let why = knownExclusions[dir.lastPathComponent] { return .skipped("excluded: \(why)") }
        let graph: Graph
        do { graph = try ONNXImporter.load(path: dir.appendingPathComponent("model.onnx").path) } catch {
            let text = "\(error)"
            if text.contains("element type") { return .skipped("dtype") }
            return .skipped("import: \(text)")
        }
        if let why = claimGap(graph) { return .skipped(why) }
        let session: Session
        do { session = try Session(graph: graph, options: SessionOptions(threads: threads)) } catch {
            return .failed("session: \(error)")
        }
        let fm = FileManager.default
        let sets = ((try? fm.contentsOfDirectory(atPath: dir.path)) ?? []).filter { $0.hasPrefix("test_data_set_") }.sorted()
        guard !sets.isEmpty else { return .skipped("no test data") }
        let feedNames = session.plan.requiredInputs.map(\.name)
        for set in sets {
            let setDir = dir.appendingPathComponent(set)
            do {
                var feeds: [String: Tensor] = [:]
                // input_i.pb feeds the i-th graph input (ONNX's runner uses the graph's input order).
                let graphInputs = graph.inputs.map(\.name)
                for (i, name) in graphInputs.enumerated() {
                    let file = setDir.appendingPathComponent("input_\(i).pb")
                    guard fm.fileExists(atPath: file.path) else { continue }
                    let t = try readTensorProto(file.path)
                    if feedNames.contains(name) { feeds[name] = t }
                }
                let outputs = try session.run(feeds)
                for (i, out) in outputs.enumerated() {
                    let file = setDir.appendingPathComponent("output_\(i).pb")
                    guard fm.fileExists(atPath: file.path) else { continue }
                    let expected = try readTensorProto(file.path)
                    if let mismatch = compare(out, expected) {
                        return .failed("\(set) output \(i) ('\(graph.outputs[i].name)'): \(mismatch)")
                    }
                }
            } catch {
                return .failed("\(set): \(error)")
            }
        }
        return .passed
    }

    /// Why Frugal does not claim this graph, or nil when it does.
    static func claimGap(_ graph: Graph) -> String? {
        var missing: [String] = []
        for n in graph.nodes where OperatorRegistry.schema(n.opType, domain: n.domain) == nil {
            missing.append(n.domain.isEmpty ? n.opType : "\(n.domain).\(n.opType)")
        }
        if !missing.isEmpty { return "op " + Set(missing).sorted().joined(separator: ", ") }
        for v in graph.inputs + graph.outputs where v.dtype == nil {
            return "dtype \(ONNXDataType.name(v.onnxType))"
        }
        var types: [String: DType] = [:]
        for v in graph.inputs { types[v.name] = v.dtype }
        for (k, t) in graph.initializers { types[k] = t.dtype }
        for n in graph.nodes {
            let s = OperatorRegistry.schema(n.opType, domain: n.domain)!
            if let first = n.inputs.first, let d = types[first], !s.dtypes.contains(d) {
                return "dtype \(d) for \(n.opType)"
            }
            // Cast's result type is an attribute, not its input's: a cast to a type Frugal lacks
            // (double in some expanded function bodies) is not claimed.
            if n.opType == "Cast", case .int(let code)? = n.attributes["to"], ONNXDataType.dtype(for: code) == nil {
                return "dtype \(ONNXDataType.name(code)) for Cast"
            }
            if n.opType == "Dropout", n.inputs.count > 2, !n.inputs[2].isEmpty, graph.initializers[n.inputs[2]] == nil {
                return "training-mode Dropout (random masks cannot match)"
            }
            if graph.opset < s.since || graph.opset > s.until {
                return "opset \(graph.opset) for \(n.opType)"
            }
            for (i, d) in outputTypes(n, types).enumerated() where i < n.outputs.count { types[n.outputs[i]] = d }
        }
        return nil
    }

    /// The element types a node produces, as far as they follow from its op and input types
    /// (nil where unknown), so that ops deep inside a graph are checked against their claims too.
    static func outputTypes(_ n: Node, _ types: [String: DType]) -> [DType?] {
        func input(_ i: Int) -> DType? { i < n.inputs.count && !n.inputs[i].isEmpty ? types[n.inputs[i]] : nil }
        switch n.opType {
        case "Cast":
            if case .int(let code)? = n.attributes["to"] { return [ONNXDataType.dtype(for: code)] }
            return [nil]
        case "CastLike": return [input(1)]
        case "Shape", "Size", "ArgMax", "ArgMin", "NonZero": return [.int64]
        case "Equal", "Greater", "Less", "GreaterOrEqual", "LessOrEqual", "Not", "And", "Or", "Xor", "IsNaN", "IsInf":
            return [.bool]
        case "QuantizeLinear": return [input(2) ?? .uint8]
        case "DequantizeLinear": return [input(1) ?? .float32]
        case "DynamicQuantizeLinear": return [.uint8, .float32, .uint8]
        case "MatMulInteger", "ConvInteger": return [.int32]
        case "QLinearMatMul", "QLinearConv": return [input(7)]
        case "Where": return [input(1)]
        case "OneHot": return [input(2)]
        case "TopK", "MaxPool": return [input(0), .int64]
        case "ConstantOfShape":
            if case .tensor(let t)? = n.attributes["value"] { return [t.dtype] }
            return [.float32]
        default:
            let d = n.inputs.lazy.filter { !$0.isEmpty }.compactMap { types[$0] }.first
            return Array(repeating: d, count: n.outputs.count)
        }
    }

    static func readTensorProto(_ path: String) throws -> Tensor {
        let data = try Data(contentsOf: URL(fileURLWithPath: path))
        let proto = try Onnx_TensorProto(serializedBytes: data)
        return try TensorProtoConversion.tensor(from: proto, path: path, baseDirectory: nil)
    }

    /// nil when `actual` matches `expected` within tolerance (NaN matches NaN).
    static func compare(_ actual: Tensor, _ expected: Tensor) -> String? {
        guard actual.dtype == expected.dtype else { return "dtype \(actual.dtype), expected \(expected.dtype)" }
        guard actual.shape == expected.shape else { return "shape \(actual.shape), expected \(expected.shape)" }
        if actual.dtype.isFloatingPoint {
            let a = actual.floatScalars(), e = expected.floatScalars()
            for i in 0..<a.count {
                if a[i].isNaN && e[i].isNaN { continue }
                if a[i] == e[i] { continue }
                if abs(a[i] - e[i]) > absoluteTolerance + relativeTolerance * abs(e[i]) {
                    return "element \(i) is \(a[i]), expected \(e[i])"
                }
            }
            return nil
        }
        return actual == expected ? nil : "values differ (first: \(actual.floatScalars().prefix(4)) vs \(expected.floatScalars().prefix(4)))"
    }
}
