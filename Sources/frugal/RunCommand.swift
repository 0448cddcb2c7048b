import ArgumentParser
import Foundation
import FrugalCore
import FrugalEngine
import FrugalONNX

struct RunCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "run",
        abstract: "Run an ONNX model on NPY inputs and write its outputs as NPY files.",
        discussion: "Writes DIR/output_0.npy, output_1.npy, ... in the graph's output order, with the element types the graph declares.")

    @Argument(help: "The model (.onnx).") var model: String
    @Option(name: .customLong("input"), help: "NAME=FILE.npy for each graph input (repeat the option).")
    var inputs: [String] = []
    @Option(help: "Folder for the outputs (created if missing).") var output: String
    @Option(help: "Threads (default: FRUGAL_NUM_THREADS or the number of cores).") var threads: Int?
    @Flag(help: "Print one JSON object: {outputs: [{name, file, dtype, shape}], seconds}.") var json = false

    func run() throws {
        try runReportingErrors {
            var feeds: [String: Tensor] = [:]
            for spec in inputs {
                guard let eq = spec.firstIndex(of: "="), eq != spec.startIndex else {
                    throw ValidationError("--input takes NAME=FILE.npy, got '\(spec)'")
                }
                let name = String(spec[..<eq]), file = String(spec[spec.index(after: eq)...])
                feeds[name] = try NPY.read(path: file)
            }
            let graph = try ONNXImporter.load(path: model)
            let session = try Session(graph: graph, options: SessionOptions(threads: threads ?? ThreadPool.defaultThreadCount()))
            let t0 = Date()
            let outputs = try session.run(feeds)
            let seconds = Date().timeIntervalSince(t0)
            try FileManager.default.createDirectory(atPath: output, withIntermediateDirectories: true)
            var rows: [JSON] = []
            for (i, t) in outputs.enumerated() {
                let file = (output as NSString).appendingPathComponent("output_\(i).npy")
                try NPY.write(t, path: file)
                rows.append(["name": JSON(graph.outputs[i].name), "file": JSON(file), "dtype": JSON(t.dtype.rawValue),
                             "shape": .array(t.shape.dims.map { JSON($0) })])
                if !json { print("\(graph.outputs[i].name): \(t.dtype) \(t.shape) -> \(file)") }
            }
            if json { print(JSON.object([("outputs", .array(rows)), ("seconds", JSON(rounded(seconds, 6)))]).serialized()) }
        }
    }
}
