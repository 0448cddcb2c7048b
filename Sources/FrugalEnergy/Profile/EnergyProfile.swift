import Foundation
import FrugalCore
import FrugalEngine

/// Everything `frugal profile` reports for one model: modeled energy per layer, measured
/// energy where a counter exists, latency shares, and carbon.
public struct EnergyProfile: Sendable {
    public let model: String
    public let batch: Int
    public let threads: Int
    public let runs: Int
    public let totalParams: Int
    public let energy: ModelEnergy
    public let measurement: InferenceMeasurement
    /// Median wall-clock milliseconds of one run (one batch).
    public let medianMilliseconds: Double
    /// Seconds spent in each executed node over all runs, by node name.
    public let nodeSeconds: [String: Double]
    public let factors: CarbonFactors

    /// Runs the model: one traced run for the energy model, then `runs` timed runs, measured
    /// by the meters that are available.
    public static func make(model: String, graph: Graph, feeds: [String: Tensor], batch: Int, runs: Int, threads: Int,
                     costTable: CostTable, factors: CarbonFactors, meters: [any EnergyMeter]) throws -> EnergyProfile {
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
        return EnergyProfile(model: model, batch: batch, threads: threads, runs: runs, totalParams: ParameterCount.exported(graph),
                             energy: energy, measurement: measurement, medianMilliseconds: times[times.count / 2],
                             nodeSeconds: nodeSeconds, factors: factors)
    }

    /// The headline figure: measured where a counter exists, else the model's estimate.
    public var headline: EnergyReading { measurement.perInference ?? energy.reading }
    public var inferencesPerKWh: Double { headline.joules > 0 ? 3.6e6 / headline.joules : .infinity }
    public var carbonGramsPerMillion: Double { factors.grams(joules: headline.joules * 1e6) }

    public func latencyShare(_ layer: LayerEnergy) -> Double {
        let total = nodeSeconds.values.reduce(0, +)
        return total > 0 ? (nodeSeconds[layer.name] ?? 0) / total : 0
    }

    /// The `--json` object of `frugal profile`; field names are stable.
    public func json() -> JSON {
        let b = Double(batch)
        let layers: [JSON] = energy.layers.map { l in
            [
                "name": JSON(l.name), "op": JSON(l.opType), "params": JSON(l.parameters),
                "macs": JSON(l.counts.macs / batch), "bytes": JSON(Int((Double(l.counts.bytes) / b).rounded())),
                "energy_joules": JSON(l.joules / b), "latency_share": JSON(Self.rounded(latencyShare(l), 4)),
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
            "latency_ms": JSON(Self.rounded(medianMilliseconds, 4)),
            "inferences_per_kwh": JSON(inferencesPerKWh),
            "carbon_g_per_million": JSON(carbonGramsPerMillion),
            "carbon": [
                "intensity_g_per_kwh": JSON(factors.intensity.gramsPerKWh), "region": JSON(factors.intensity.region),
                "source": JSON(factors.intensity.source), "pue": JSON(factors.pue),
            ],
            "layers": .array(layers),
        ]
    }

    public static func formatName(_ f: WeightFormat) -> String {
        switch f {
        case .dense: return "dense"
        case .csr: return "csr"
        }
    }

    static func rounded(_ x: Double, _ digits: Int) -> Double {
        let p = pow(10, Double(digits))
        return (x * p).rounded() / p
    }
}
