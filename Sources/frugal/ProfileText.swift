import Foundation
import FrugalEnergy

/// The text form of a profile: the per-layer table and the totals.
extension EnergyProfile {
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
