import Foundation
import FrugalCore
import FrugalEnergy
import FrugalEngine

/// Everything `frugal profile` reports for one model: modeled energy per layer, measured
/// energy where a counter exists, latency shares, and carbon.
struct ProfileReport {
    let model: String
    let batch: Int
    let threads: Int
    let runs: Int
    let totalParams: Int
    let energy: ModelEnergy
    let measurement: InferenceMeasurement
    /// Median wall-clock milliseconds of one run (one batch).
    let medianMilliseconds: Double
    /// Seconds spent in each executed node over all runs, by node name.
    let nodeSeconds: [String: Double]
    let factors: CarbonFactors

    /// Runs the model: one traced run for the energy model, then `runs` timed runs, measured
    /// by the meters that are available.
    static func make(model: String, graph: Graph, feeds: [String: Tensor], batch: Int, runs: Int, threads: Int,
                     costTable: CostTable, factors: CarbonFactors, meters: [any EnergyMeter]) throws -> ProfileReport {
        let session = try Session(graph: graph, options: SessionOptions(threads: threads, profile: true))
        let energy = try EnergyModel(costTable: costTable).evaluate(session: session, feeds: feeds, batch: batch)
        for _ in 0..<min(3, runs) { _ = try session.run(feeds) }
        var times: [Double] = []
        var nodeSeconds: [String: Double] = [:]
        let measurement = try InferenceMeasurement.measure(meters: meters, runs: runs, inferencesPerRun: batch) {
            let t0 = DispatchTime.now().uptimeNanoseconds
            _ = try session.run(feeds)
            times.append(Double(DispatchTime.now().uptimeNanoseconds - t0) * 1e-6)
            for t in session.lastProfile { nodeSeconds[t.name, default: 0] += t.seconds }
        }
        times.sort()
        return ProfileReport(model: model, batch: batch, threads: threads, runs: runs, totalParams: ParameterCount.exported(graph),
                             energy: energy, measurement: measurement, medianMilliseconds: times[times.count / 2],
                             nodeSeconds: nodeSeconds, factors: factors)
    }

    /// The headline figure: measured where a counter exists, else the model's estimate.
    var headline: EnergyReading { measurement.perInference ?? energy.reading }
    var inferencesPerKWh: Double { headline.joules > 0 ? 3.6e6 / headline.joules : .infinity }
    var carbonGramsPerMillion: Double { factors.grams(joules: headline.joules * 1e6) }

    func latencyShare(_ layer: LayerEnergy) -> Double {
        let total = nodeSeconds.values.reduce(0, +)
        return total > 0 ? (nodeSeconds[layer.name] ?? 0) / total : 0
    }

    func json() -> JSON {
        let b = Double(batch)
        let layers: [JSON] = energy.layers.map { l in
            [
                "name": JSON(l.name), "op": JSON(l.opType), "params": JSON(l.parameters),
                "macs": JSON(l.counts.macs / batch), "bytes": JSON(Int((Double(l.counts.bytes) / b).rounded())),
                "energy_joules": JSON(l.joules / b), "latency_share": JSON(rounded(latencyShare(l), 4)),
                "memory_level": JSON(l.memoryLevel.rawValue), "weight_format": JSON(Self.formatName(l.weightFormat)),
                "modeled_exactly": .bool(l.counts.modeled),
            ]
        }
        var measured: JSON = .null
        if let m = measurement.perInference {
            measured = ["joules_per_inference": JSON(m.joules), "source": JSON(m.source),
                        "idle_watts": JSON(measurement.idleWatts ?? 0), "seconds": JSON(measurement.seconds)]
        }
        return [
            "model": JSON(model), "batch": JSON(batch), "threads": JSON(threads), "runs": JSON(runs),
            "total_macs": JSON(energy.macsPerInference), "total_params": JSON(totalParams),
            "energy_joules_per_inference": ["value": JSON(headline.joules), "kind": JSON(headline.kind.rawValue), "source": JSON(headline.source)],
            "modeled": [
                "joules_per_inference": JSON(energy.joulesPerInference), "source": JSON(energy.reading.source),
                "cost_table": ["name": JSON(energy.costTable.name), "citation": JSON(energy.costTable.citation)],
                "cache_bytes": JSON(energy.cache.lastLevelBytes), "cache_source": JSON(energy.cache.source),
            ],
            "measured": measured,
            "meters_unavailable": .array(measurement.unavailable.map { JSON($0) }),
            "latency_ms": JSON(rounded(medianMilliseconds, 4)),
            "inferences_per_kwh": JSON(inferencesPerKWh),
            "carbon_g_per_million": JSON(carbonGramsPerMillion),
            "carbon": [
                "intensity_g_per_kwh": JSON(factors.intensity.gramsPerKWh), "region": JSON(factors.intensity.region),
                "source": JSON(factors.intensity.source), "pue": JSON(factors.pue),
            ],
            "layers": .array(layers),
        ]
    }

    static func formatName(_ f: WeightFormat) -> String {
        switch f {
        case .dense: return "dense"
        case .csr: return "csr"
        }
    }

    /// The per-layer table and the totals, as `frugal profile` prints them.
    func text(compact: Bool = false) -> String {
        var lines: [String] = []
        let b = Double(batch)
        if !compact {
            lines.append("\(model): batch \(batch), \(threads) thread\(threads == 1 ? "" : "s"), \(runs) runs; figures per inference (per example)")
        }
        let nameWidth = min(44, max(5, energy.layers.map(\.name.count).max() ?? 5))
        func cell(_ s: String, _ w: Int, left: Bool = false) -> String {
            let t = s.count > w ? "…" + s.suffix(w - 1) : s
            let pad = String(repeating: " ", count: max(0, w - t.count))
            return left ? t + pad : pad + t
        }
        lines.append("  " + cell("layer", nameWidth, left: true) + " " + cell("op", 18, left: true) + cell("params", 10) + cell("MACs", 12)
                     + cell("bytes", 12) + cell("latency", 9) + cell("energy", 11))
        for l in energy.layers {
            lines.append("  " + cell(l.name, nameWidth, left: true) + " " + cell(l.opType + (l.weightFormat == .dense ? "" : " (csr)"), 18, left: true)
                         + cell(Self.count(Double(l.parameters)), 10) + cell(Self.count(Double(l.counts.macs) / b), 12)
                         + cell(Self.count(Double(l.counts.bytes) / b), 12)
                         + cell(String(format: "%.1f%%", latencyShare(l) * 100), 9) + cell(Self.joules(l.joules / b), 11))
        }
        let memory = energy.layers.reduce(0) { $0 + $1.memoryJoules } / b
        let share = energy.joulesPerInference > 0 ? memory / energy.joulesPerInference * 100 : 0
        lines.append("totals:")
        lines.append("  multiply-adds       \(Self.count(Double(energy.macsPerInference))) (\(energy.macsPerInference); Conv/Gemm/MatMul)")
        lines.append("  parameters          \(Self.count(Double(totalParams))) (\(totalParams), as exported)")
        lines.append("  modeled energy      \(Self.joules(energy.joulesPerInference)) per inference (estimated, \(energy.costTable.name), "
                     + String(format: "%.0f%% memory", share) + "; cache \(energy.cache.lastLevelBytes >> 10) KiB from \(energy.cache.source))")
        if let m = measurement.perInference {
            lines.append("  measured energy     \(Self.joules(m.joules)) per inference (measured, \(m.source), "
                         + String(format: "idle %.1f W subtracted", measurement.idleWatts ?? 0) + ")")
        } else {
            let why = measurement.unavailable.isEmpty ? "no hardware energy counter" : measurement.unavailable.joined(separator: "; ")
            lines.append("  measured energy     not available (\(why))")
        }
        lines.append(String(format: "  latency             %.3f ms median per run of batch %d", medianMilliseconds, batch))
        lines.append("  inferences per kWh  \(Self.count(inferencesPerKWh)) (from the \(headline.kind.rawValue) figure)")
        lines.append(String(format: "  carbon              %.4g gCO2e per million inferences", carbonGramsPerMillion)
                     + " (\(factors.intensity.region) \(Self.trim(factors.intensity.gramsPerKWh)) g/kWh, PUE \(Self.trim(factors.pue)))")
        return lines.joined(separator: "\n")
    }

    /// 1234567 -> "1.23 M".
    static func count(_ x: Double) -> String {
        if !x.isFinite { return "∞" }
        let units: [(Double, String)] = [(1e12, " T"), (1e9, " G"), (1e6, " M"), (1e3, " k")]
        for (scale, suffix) in units where abs(x) >= scale { return String(format: "%.3g", x / scale) + suffix }
        return x == x.rounded() ? String(Int(x)) : String(format: "%.3g", x)
    }

    /// Joules with an SI prefix: "265 pJ", "1.23 mJ".
    static func joules(_ j: Double) -> String {
        let units: [(Double, String)] = [(1, "J"), (1e-3, "mJ"), (1e-6, "µJ"), (1e-9, "nJ"), (1e-12, "pJ")]
        for (scale, unit) in units where abs(j) >= scale { return String(format: "%.3g ", j / scale) + unit }
        return j == 0 ? "0 J" : String(format: "%.3g pJ", j / 1e-12)
    }

    static func trim(_ x: Double) -> String { x == x.rounded() ? String(format: "%.1f", x) : String(format: "%g", x) }
}
