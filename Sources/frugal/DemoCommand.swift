import ArgumentParser
import FrugalCore

struct DemoCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "demo",
        abstract: "The first thing to run: shows what Frugal does on this machine.",
        discussion: """
            Until training lands, the demo runs the kernel benchmark (fp32 and int8 GEMM) and \
            says what is coming: training LeNet-300-100 on the bundled MNIST, compressing it, \
            and measuring accuracy, size, latency and energy.
            """)

    @Option(name: .long, help: "Threads (default: FRUGAL_NUM_THREADS or the number of cores).")
    var threads: Int?

    func run() throws {
        print("Frugal \(FrugalVersion.string) demo — kernels: \(CPUInfo.current.kernelName)")
        print("Training, compression and energy arrive with their issues; for now, the CPU kernels:\n")
        let bench = try BenchKernels.parse(["--sizes", "256,512"] + (threads.map { ["--threads", String($0)] } ?? []))
        try bench.run()
    }
}
