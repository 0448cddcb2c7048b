import ArgumentParser
import Foundation
import FrugalCore
import FrugalEnergy
import FrugalEngine
import FrugalONNX
import FrugalTraining

struct DemoCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "demo",
        abstract: "The first thing to run: train LeNet-300-100 on the bundled MNIST, evaluate it, and measure it.",
        discussion: """
            Trains LeNet-300-100 with `frugal train`'s defaults (about 12 s on 2 cores), \
            evaluates it on the 10,000 test digits, and prints its accuracy, size, multiply-adds \
            and batch-1 latency, then profiles it: modeled energy per layer (Horowitz 45 nm \
            cost table), measured energy where a hardware counter exists, and carbon per million \
            inferences (see `frugal profile --help`). The trained model is written to \
            frugal-demo-lenet-300-100.onnx (or --output).
            """)

    @Option(help: "Threads (default: FRUGAL_NUM_THREADS or the number of cores).") var threads: Int?
    @Option(help: "Where to write the trained model.") var output: String = "frugal-demo-lenet-300-100.onnx"
    @Option(help: "Epochs (default: the LeNet-300-100 recipe, 20).") var epochs: Int?
    @OptionGroup var carbon: CarbonOptions

    func run() throws {
        try runReportingErrors {
            let t = threads ?? ThreadPool.defaultThreadCount()
            print("Frugal \(FrugalVersion.string) demo — kernels: \(CPUInfo.current.kernelName), \(t) thread\(t == 1 ? "" : "s")")
            print("1. Training LeNet-300-100 (784-300-100-10) on MNIST (data/mnist)...")
            var args = ["--model", "lenet-300-100", "--output", output, "--threads", String(t)]
            if let e = epochs { args += ["--epochs", String(e)] }
            try TrainCommand.parse(args).run()

            print("\n2. Measuring the trained model (\(output)):")
            let graph = try ONNXImporter.load(path: output)
            let stats = ModelStats(graph: graph)
            let fileBytes = (try FileManager.default.attributesOfItem(atPath: output)[.size] as? Int) ?? 0
            let session = try Session(graph: graph, options: SessionOptions(threads: 1))
            let input = try Tensor(zeros: [1, 1, 28, 28])
            let name = session.plan.requiredInputs[0].name
            for _ in 0..<20 { _ = try session.run([name: input]) }
            var times: [Double] = []
            for _ in 0..<200 {
                let t0 = DispatchTime.now().uptimeNanoseconds
                _ = try session.run([name: input])
                times.append(Double(DispatchTime.now().uptimeNanoseconds - t0) * 1e-3)
            }
            times.sort()
            print("   parameters        \(stats.parameters)")
            print("   multiply-adds     \(stats.macs) per image")
            print("   size on disk      \(fileBytes) bytes (fp32 ONNX)")
            print(String(format: "   latency           %.1f µs median at batch 1, 1 thread (200 runs)", times[100]))

            print("\n3. Energy profile at batch 1, 1 thread (`frugal profile \(output)`):")
            let report = try EnergyProfile.make(model: output, graph: graph, feeds: [name: input], batch: 1, runs: 200, threads: 1,
                                                costTable: .horowitz45nm, factors: try carbon.factors(), meters: ProfileMeters.all())
            print(report.text(compact: true).split(separator: "\n").map { "   " + $0 }.joined(separator: "\n"))
            print("\nNext: `frugal eval \(output)` for per-class accuracy, `frugal inspect \(output)`, `frugal profile \(output)`, `frugal zoo`.")
            print("Compression (pruning, int8, weight sharing) arrives with its issues.")
        }
    }
}
