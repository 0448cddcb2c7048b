import ArgumentParser
import Foundation
import FrugalCore

struct BenchCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "bench",
        abstract: "Benchmark a model (`frugal bench MODEL.onnx`), Frugal's kernels (`frugal bench kernels`) or its thread pool (`frugal bench pool`).",
        subcommands: [BenchModel.self, BenchKernels.self, BenchPool.self],
        defaultSubcommand: BenchModel.self)
}

struct BenchKernels: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "kernels",
        abstract: "fp32 GEMM GFLOP/s and int8 GEMM GOP/s on square problems (or MobileNetV2 layer shapes), on 1 thread and on all threads.",
        discussion: """
            Each case runs once to warm up, then repeats for at least 1 s and 5 runs; the \
            table shows the best and the median rate (2·n³ operations per run). Inputs are \
            plain row-major matrices and packing is timed, as numpy's `a @ b` is. \
            scripts/bench_kernels_vs_numpy.py compares these figures with numpy in one run.
            """)

    @Option(help: "Cube sizes, comma-separated.") var sizes: String = "256,512,1024"
    @Option(help: "Threads for the multi-threaded rows (default: FRUGAL_NUM_THREADS or the number of cores).")
    var threads: Int?
    @Flag(help: "Instead of square GEMMs, time the GEMM-based layer shapes of MobileNetV2 at batch 1 (pointwise convolutions, the 3x3 stem, the classifier) as the engine runs them; JSON {\"conv_shapes\":[{name,m,k,n,threads,median_us,best_us,median_gflops}],\"kernels\"}.")
    var convShapes = false
    @Option(help: "With --conv-shapes: pack the pointwise weights as 'rows' (output positions in the vector lanes) or 'columns' (output channels in the lanes) instead of the engine's choice.")
    var weightLayout: String?
    @Flag(help: "Print one JSON object: {\"fp32_gemm\":[{m,n,k,threads,gflops,median_gflops}],\"int8_gemm\":[{m,n,k,threads,gops,median_gops}],\"kernels\"}.")
    var json = false

    func validate() throws {
        guard let list = parsedSizes, !list.isEmpty, list.allSatisfy({ $0 > 0 && $0 <= 8192 }) else {
            throw ValidationError("--sizes takes comma-separated integers from 1 to 8192, e.g. 256,512,1024")
        }
        if let t = threads, t < 1 || t > 1024 { throw ValidationError("--threads must be from 1 to 1024") }
        if let l = weightLayout, l != "rows" && l != "columns" {
            throw ValidationError("--weight-layout takes 'rows' or 'columns', got '\(l)'")
        }
    }

    var parsedSizes: [Int]? {
        let parts = sizes.split(separator: ",").map { Int($0.trimmingCharacters(in: .whitespaces)) }
        return parts.contains(where: { $0 == nil }) ? nil : parts.map { $0! }
    }

    func run() throws {
        let all = threads ?? ThreadPool.defaultThreadCount()
        let threadCounts = all > 1 ? [1, all] : [1]
        if convShapes { return runConvShapes(threadCounts) }
        var results: [KernelBenchmark.Result] = []
        if !json {
            print("kernels: \(CPUInfo.current.kernelName)")
            print("kind        size  threads      best    median")
        }
        for kind in [KernelBenchmark.Kind.fp32, .int8] {
            for n in parsedSizes! {
                for t in threadCounts {
                    let r = KernelBenchmark.run(kind, size: n, threads: t)
                    results.append(r)
                    if !json {
                        let unit = kind == .fp32 ? "GFLOP/s" : "GOP/s"
                        print(String(format: "%@  %5d  %7d  %8.1f  %8.1f %@", kind.rawValue, n, t, r.bestRate, r.medianRate, unit))
                    }
                }
            }
        }
        if json {
            func rows(_ kind: KernelBenchmark.Kind, _ key: String) -> JSON {
                .array(results.filter { $0.kind == kind }.map {
                    ["m": JSON($0.size), "n": JSON($0.size), "k": JSON($0.size), "threads": JSON($0.threads),
                     key: JSON(($0.bestRate * 10).rounded() / 10), "median_" + key: JSON(($0.medianRate * 10).rounded() / 10)]
                })
            }
            let out: JSON = ["fp32_gemm": rows(.fp32, "gflops"), "int8_gemm": rows(.int8, "gops"),
                             "kernels": JSON(CPUInfo.current.kernelName)]
            print(out.serialized())
        }
    }
}

extension BenchKernels {
    /// `--conv-shapes`: one row per (layer shape, thread count).
    func runConvShapes(_ threadCounts: [Int]) {
        var rows: [JSON] = []
        if !json {
            print("kernels: \(CPUInfo.current.kernelName)")
            print("layer                    m     k      n  threads  median us   best us  GFLOP/s")
        }
        for shape in ConvShapeBenchmark.mobileNetV2 {
            for t in threadCounts {
                let layout: GEMM.PackedA.Layout? = weightLayout.map { $0 == "rows" ? .rowPanels : .columnPanels }
                let r = ConvShapeBenchmark.run(shape, threads: t, layout: layout)
                let med = r.medianSeconds * 1e6, best = r.bestSeconds * 1e6
                if json {
                    rows.append(["name": JSON(shape.name), "m": JSON(shape.m), "k": JSON(shape.k), "n": JSON(shape.n),
                                 "threads": JSON(t), "median_us": JSON((med * 10).rounded() / 10),
                                 "best_us": JSON((best * 10).rounded() / 10),
                                 "median_gflops": JSON((r.medianGFlops * 10).rounded() / 10)])
                } else {
                    let name = shape.name.padding(toLength: 20, withPad: " ", startingAt: 0)
                    print(String(format: "%@ %5d %5d %6d  %7d  %9.1f %9.1f %8.1f", name, shape.m, shape.k, shape.n, t,
                                 med, best, r.medianGFlops))
                }
            }
        }
        if json {
            let out: JSON = ["conv_shapes": .array(rows), "kernels": JSON(CPUInfo.current.kernelName)]
            print(out.serialized())
        }
    }
}
