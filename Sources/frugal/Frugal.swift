import ArgumentParser
import FrugalCore

@main
struct Frugal: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "frugal",
        abstract: "Make neural networks smaller, faster and cheaper in energy, and prove it with measurements.",
        discussion: """
            Frugal trains, imports, compresses, runs and measures neural networks on its own CPU \
            engine. Every command takes --json for scripts. Start with `frugal demo`.
            """,
        version: FrugalVersion.string,
        subcommands: [DemoCommand.self, InspectCommand.self, RunCommand.self, BenchCommand.self, ProfileCommand.self, MeasureCommand.self, OpsCommand.self, ZooCommand.self, TrainCommand.self, EvalCommand.self, ConformanceCommand.self, VersionCommand.self]
    )
}

struct VersionCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "version", abstract: "Print Frugal's version and the CPU kernels it selected.")

    @Flag(help: "Print one JSON object.") var json = false

    func run() throws {
        let info = CPUInfo.current
        if json {
            let out: JSON = [
                "version": JSON(FrugalVersion.string),
                "kernels": JSON(info.kernelName),
                "cores": JSON(info.cores),
            ]
            print(out.serialized())
        } else {
            print("frugal \(FrugalVersion.string)")
            print("kernels: \(info.kernelName), \(info.cores) cores")
        }
    }
}
