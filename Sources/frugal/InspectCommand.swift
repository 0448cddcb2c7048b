import ArgumentParser
import Foundation
import FrugalCore
import FrugalEngine
import FrugalONNX

struct InspectCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "inspect",
        abstract: "Show an ONNX model's inputs, outputs, op counts, parameters and opset.")

    @Argument(help: "The model (.onnx).") var model: String
    @Flag(help: "Print one JSON object: {file, opset, ir_version, producer, inputs: [{name, dtype, shape}], outputs, op_counts: {op: n}, nodes, parameters, initializer_bytes, unsupported_ops}.")
    var json = false

    func run() throws {
        try runReportingErrors {
            let g = try ONNXImporter.load(path: model)
            let unsupported = Set(g.nodes.filter { OperatorRegistry.schema($0.opType, domain: $0.domain) == nil }.map(\.opType)).sorted()
            let bytes = g.initializers.values.reduce(0) { $0 + $1.byteCount }
            func io(_ v: ValueInfo) -> JSON {
                ["name": JSON(v.name), "dtype": JSON(v.dtype?.rawValue ?? ONNXDataType.name(v.onnxType)),
                 "shape": .array((v.shape ?? []).map { d in d.value.map { JSON($0) } ?? JSON(d.description) })]
            }
            let runtimeInputs = g.inputs.filter { g.initializers[$0.name] == nil }
            if json {
                let out: JSON = [
                    "file": JSON(model), "opset": JSON(g.opset), "ir_version": JSON(g.irVersion),
                    "producer": JSON(g.producerName),
                    "inputs": .array(runtimeInputs.map(io)), "outputs": .array(g.outputs.map(io)),
                    "op_counts": .object(g.opCounts.map { ($0.op, JSON($0.count)) }),
                    "nodes": JSON(g.nodes.count), "parameters": JSON(g.parameterCount),
                    "initializer_bytes": JSON(bytes), "unsupported_ops": .array(unsupported.map { JSON($0) }),
                ]
                print(out.serialized())
                return
            }
            print("\(model)")
            print("  opset \(g.opset), IR version \(g.irVersion), producer '\(g.producerName)'")
            print("  inputs:")
            for v in runtimeInputs { print("    \(v.name): \(v.dtype?.rawValue ?? ONNXDataType.name(v.onnxType)) \(v.shapeDescription)") }
            print("  outputs:")
            for v in g.outputs { print("    \(v.name): \(v.dtype?.rawValue ?? ONNXDataType.name(v.onnxType)) \(v.shapeDescription)") }
            print("  \(g.nodes.count) nodes: " + g.opCounts.map { "\($0.op) \($0.count)" }.joined(separator: ", "))
            print("  parameters: \(g.parameterCount) (\(bytes) bytes of initializers)")
            if !unsupported.isEmpty { print("  not supported by Frugal: \(unsupported.joined(separator: ", "))") }
        }
    }
}
