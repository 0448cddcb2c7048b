import ArgumentParser
import Foundation
import FrugalCore
import FrugalEnergy
import FrugalEngine
import FrugalONNX

struct ProfileCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "profile",
        abstract: "Per-layer parameters, multiply-adds, bytes, latency and energy of an ONNX model, with its carbon.",
        discussion: """
            Costs the graph the engine really executes (after constant folding, BatchNorm folding \
            and activation fusion) with the shapes of a real run: multiply-adds and adds by \
            precision (fp32, fp16, int8, int32) and bytes moved, charged at on-chip (SRAM) cost \
            when a node's working set fits the last-level cache and at DRAM cost otherwise. The \
            default cost table is Horowitz, ISSCC 2014, 45 nm; --cost-table FILE takes your own \
            (JSON: name, citation, fp32_add_pj, fp32_mult_pj, fp16_add_pj, fp16_mult_pj, \
            int8_add_pj, int8_mult_pj, int32_add_pj, int32_mult_pj, sram_read_32bit_pj, \
            dram_read_32bit_pj). Then times --runs runs and, where a hardware energy counter \
            exists (RAPL, NVML), measures them minus idle power. The headline energy per \
            inference is the measured one when there is one, otherwise the modeled estimate, \
            and says which. Multiply-adds follow the papers' convention (Conv, Gemm, MatMul \
            only); parameters are counted as exported. Figures are per example: a batch shares \
            its weight reads.
            """)

    @Argument(help: "The model (.onnx).") var model: String
    @Option(help: "Batch size (the first symbolic dimension of each input).") var batch: Int = 1
    @Option(help: "Timed runs for latency shares and measured energy.") var runs: Int = 30
    @Option(help: "Threads (default: FRUGAL_NUM_THREADS or the number of cores).") var threads: Int?
    @Option(help: "A JSON cost table (picojoules per operation) instead of Horowitz 45 nm.") var costTable: String?
    @Option(name: .customLong("dim"), help: "NAME=VALUE for a symbolic dimension other than the batch (repeatable).") var dims: [String] = []
    @Option(name: .customLong("shape"), help: "NAME=D0,D1,... the whole shape of an input, e.g. x=1,3,48,192 (repeatable; overrides --batch and --dim for that input).")
    var shapes: [String] = []
    @Option(name: .customLong("input"), help: "NAME=FILE.npy: profile on this tensor instead of random data (repeatable; the batch is then its first dimension).")
    var inputs: [String] = []
    @OptionGroup var carbon: CarbonOptions
    @Flag(help: """
        Print one JSON object: {total_macs, total_params, energy_joules_per_inference: {value, kind, source}, \
        layers: [{name, op, params, macs, bytes, energy_joules, latency_share, memory_level, weight_format}], \
        carbon_g_per_million, modeled, measured, meters_unavailable, latency_ms, inferences_per_kwh, carbon, \
        model, batch, threads, runs}.
        """)
    var json = false

    func validate() throws {
        guard batch >= 1 else { throw ValidationError("--batch must be at least 1") }
        guard runs >= 1 else { throw ValidationError("--runs must be at least 1") }
        if let t = threads, t < 1 { throw ValidationError("--threads must be at least 1") }
    }

    func run() throws {
        try runReportingErrors {
            let named = try namedDimensions(dims)
            let given = try inputShapes(shapes)
            let table = try costTable.map { try CostTable.load(path: $0) } ?? .horowitz45nm
            let factors = try carbon.factors()
            let graph = try ONNXImporter.load(path: model)
            let t = threads ?? ThreadPool.defaultThreadCount()
            var feeds: [String: Tensor] = [:]
            var batch = batch
            if inputs.isEmpty {
                let declared = graph.inputs.filter { graph.initializers[$0.name] == nil }
                feeds = try RandomInputs.make(for: declared, batch: batch, named: named, shapes: given)
                batch = given.values.first.flatMap(\.first) ?? batch
            } else {
                for spec in inputs {
                    guard let eq = spec.firstIndex(of: "="), eq != spec.startIndex else {
                        throw ValidationError("--input takes NAME=FILE.npy, got '\(spec)'")
                    }
                    feeds[String(spec[..<eq])] = try NPY.read(path: String(spec[spec.index(after: eq)...]))
                }
                batch = feeds.values.first.flatMap { $0.rank > 0 ? $0.shape[0] : nil } ?? 1
            }
            let report = try EnergyProfile.make(model: model, graph: graph, feeds: feeds, batch: max(batch, 1), runs: runs, threads: t,
                                                costTable: table, factors: factors, meters: ProfileMeters.all())
            print(json ? report.json().serialized() : report.text())
        }
    }
}

/// The hardware energy counters `profile` and `demo` measure with: RAPL (CPU packages and DRAM)
/// and NVML (NVIDIA GPUs). The CPU-time estimate is not among them: per inference, the op-level
/// model is the estimate, and a measured figure must come from a counter.
enum ProfileMeters {
    static func all() -> [any EnergyMeter] { [RAPLMeter(), NVMLMeter()] }
}
