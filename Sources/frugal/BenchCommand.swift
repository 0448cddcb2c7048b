import ArgumentParser
import FrugalCore

struct BenchCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "bench",
        abstract: "Benchmark Frugal's kernels (and, with the ONNX issue, whole models).",
        subcommands: [BenchKernels.self])
}

struct BenchKernels: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "kernels",
        abstract: "fp32 GEMM GFLOP/s and int8 GEMM GOP/s at 256, 512 and 1024 cubed, on 1 thread and all threads.")

    @Option(help: "Cube sizes, comma-separated.") var sizes: String = "256,512,1024"
    @Option(help: "Threads for the multi-threaded rows (default: FRUGAL_NUM_THREADS or the number of cores).")
    var threads: Int?
    @Flag(help: "Print one JSON object.") var json = false

    func run() throws {
        print("(bench kernels: arrives with the GEMM kernels)")
    }
}
