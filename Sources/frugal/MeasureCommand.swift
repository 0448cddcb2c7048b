import ArgumentParser
import Foundation
import FrugalCore
import FrugalEnergy

/// `frugal measure -- COMMAND ...`: energy, duration and carbon of any command.
struct MeasureCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "measure",
        abstract: "Run a command and report its energy, duration and carbon; append a row to emissions.csv.",
        discussion: """
            Energy comes from RAPL (CPU packages and DRAM of the whole machine, measured) when \
            /sys/class/powercap is readable, otherwise from an estimate: the command's CPU time \
            x per-core power (TDP / cores from a table of CPUs, or --tdp). NVIDIA GPUs are added \
            through NVML when the driver is present. Meters that cannot be used are listed with \
            the reason. Carbon = kWh x grid intensity (--region or --carbon-intensity) x --pue.

            The command inherits stdin, stdout and stderr; with --json its stdout goes to stderr \
            so that stdout holds one JSON object: {command, exit_status, duration_seconds, \
            energy: {joules, kwh, kind, source}, readings: [{meter, joules, kind, source}], \
            unavailable: [{meter, reason}], carbon: {grams, intensity_g_per_kwh, region, source, \
            pue}, emissions_csv}. The row appended to emissions.csv (in --output-dir) has \
            CodeCarbon's columns and units (kWh, kg CO2e, W). frugal exits with the command's \
            exit status (128 + signal when a signal ended it).

            Example: frugal measure --region FR -- python train.py --epochs 3
            """)

    @Flag(help: "Print one JSON object on stdout (the command's own stdout goes to stderr).") var json = false

    @Option(help: "CPU thermal design power in watts, when the CPU is not in Frugal's table (per-core power = TDP / physical cores).")
    var tdp: Double?

    @Option(help: "Directory of emissions.csv (created if missing).") var outputDir: String = "."

    @Option(help: "project_name column of emissions.csv.") var projectName: String = "frugal"

    @Option(help: "experiment_id column of emissions.csv.") var experimentId: String = ""

    @OptionGroup var carbon: CarbonOptions

    /// Where to look for RAPL zones; tests point it at a synthetic tree.
    @Option(help: .hidden) var powercapRoot: String = "/sys/class/powercap"

    @Argument(parsing: .postTerminator, help: "The command and its arguments, after --.")
    var command: [String] = []

    func validate() throws {
        if command.isEmpty {
            throw ValidationError("give the command to measure after --, e.g. frugal measure -- python train.py")
        }
    }

    func run() throws {
        var status: Int32 = 0
        try runReportingErrors {
            let factors = try carbon.factors()
            let cpu = ProcessorDescription.current()
            let meters = try EnergyMeters.best(tdp: tdp, cpuScope: .children, powercapRoot: powercapRoot, cpu: cpu)
            if let rapl = meters.meters.first as? RAPLMeter { rapl.samplingInterval = rapl.recommendedSamplingInterval() }
            let run = try CommandRunner.run(command, meters: meters, stdoutToStderr: json, forwardSignals: true)
            status = run.exitStatus
            let csvPath = try appendCSV(run, meters: meters, factors: factors, cpu: cpu)
            let total = run.measurement.total
            let grams = factors.grams(joules: total.joules)
            if json {
                print(jsonReport(run, meters: meters, factors: factors, grams: grams, csvPath: csvPath).serialized())
            } else {
                printError(textReport(run, meters: meters, factors: factors, grams: grams, csvPath: csvPath))
            }
        }
        if status != 0 { throw ExitCode(status) }
    }

    private func appendCSV(_ run: CommandRun, meters: EnergyMeterSet, factors: CarbonFactors, cpu: ProcessorDescription) throws -> String {
        try FileManager.default.createDirectory(atPath: outputDir, withIntermediateDirectories: true)
        let path = (outputDir as NSString).appendingPathComponent("emissions.csv")
        var cpuJ = 0.0, gpuJ = 0.0, ramJ = 0.0
        var tracking = "process"
        for (meter, reading) in zip(meters.meters, run.measurement.readings) {
            if let rapl = meter as? RAPLMeter {
                ramJ += rapl.lastDRAMJoules
                cpuJ += reading.joules - rapl.lastDRAMJoules
                tracking = "machine"
            } else if meter is NVMLMeter {
                gpuJ += reading.joules
            } else {
                cpuJ += reading.joules
            }
        }
        let gpus = meters.meters.compactMap { ($0 as? NVMLMeter)?.deviceCount }.first
        let record = EmissionsRecord(
            timestamp: Date(), projectName: projectName, experimentID: experimentId, durationSeconds: run.wallSeconds,
            cpuJoules: cpuJ, gpuJoules: gpuJ, ramJoules: ramJ, factors: factors,
            country: carbon.carbonIntensity == nil ? GridIntensityTable.region(carbon.region) : nil,
            cpu: cpu, gpuCount: gpus, trackingMode: tracking)
        try EmissionsCSV.append(record, to: path)
        return path
    }

    private func jsonReport(_ run: CommandRun, meters: EnergyMeterSet, factors: CarbonFactors, grams: Double, csvPath: String) -> JSON {
        let total = run.measurement.total
        let readings: [JSON] = zip(meters.meters, run.measurement.readings).map { m, r in
            var fields: [(String, JSON)] = [("meter", JSON(m.name)), ("joules", JSON(r.joules)), ("kind", JSON(r.kind.rawValue)),
                                            ("source", JSON(r.source))]
            if let rapl = m as? RAPLMeter {
                fields.append(("domains", .array(rapl.lastBreakdown.map {
                    ["label": JSON($0.label), "joules": JSON($0.joules), "counted": .bool($0.counted), "wraps": JSON($0.wraps)]
                })))
            }
            return .object(fields)
        }
        let unavailable: [JSON] = meters.unavailable.map { ["meter": JSON($0.name), "reason": JSON($0.reason)] }
        return [
            "command": .array(run.command.map { JSON.string($0) }),
            "exit_status": JSON(Int(run.exitStatus)),
            "duration_seconds": JSON(rounded(run.wallSeconds, 6)),
            "energy": ["joules": JSON(total.joules), "kwh": JSON(total.kilowattHours), "kind": JSON(total.kind.rawValue),
                       "source": JSON(total.source)],
            "readings": .array(readings),
            "unavailable": .array(unavailable),
            "carbon": ["grams": JSON(grams), "intensity_g_per_kwh": JSON(factors.intensity.gramsPerKWh),
                       "region": JSON(factors.intensity.region), "source": JSON(factors.intensity.source), "pue": JSON(factors.pue)],
            "emissions_csv": JSON(csvPath),
        ]
    }

    private func textReport(_ run: CommandRun, meters: EnergyMeterSet, factors: CarbonFactors, grams: Double, csvPath: String) -> String {
        let total = run.measurement.total
        var lines: [String] = []
        let how = run.signal.map { "was ended by signal \($0)" } ?? "exited \(run.exitStatus)"
        lines.append("frugal measure: `\(run.command.joined(separator: " "))` \(how) after \(String(format: "%.3f", run.wallSeconds)) s")
        lines.append("energy: \(String(format: "%.4g", total.joules)) J (\(String(format: "%.4g", total.kilowattHours)) kWh), \(total.kind.rawValue)")
        for (m, r) in zip(meters.meters, run.measurement.readings) {
            lines.append("  \(m.name): \(String(format: "%.4g", r.joules)) J \(r.kind.rawValue) — \(r.source)")
            for d in (m as? RAPLMeter)?.lastBreakdown ?? [] {
                lines.append("    \(d.label): \(String(format: "%.4g", d.joules)) J\(d.counted ? "" : " (inside another domain, not added)")")
            }
        }
        for u in meters.unavailable { lines.append("  \(u.name): not available (\(u.reason))") }
        let i = factors.intensity
        lines.append("carbon: \(String(format: "%.4g", grams)) gCO2e (\(i.region), \(String(format: "%g", i.gramsPerKWh)) g/kWh, \(i.source)\(i.year.map { ", \($0)" } ?? ""); PUE \(String(format: "%g", factors.pue)))")
        lines.append("row appended to \(csvPath)")
        return lines.joined(separator: "\n")
    }
}
