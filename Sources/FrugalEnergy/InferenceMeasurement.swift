import Foundation

/// Measured energy per inference: the energy of N runs minus the idle power over the same
/// time, divided by the inferences, from every usable hardware counter.
public struct InferenceMeasurement: Sendable {
    /// Joules per inference with kind `.measured`, or nil when no counter could be used.
    public var perInference: EnergyReading?
    /// Idle power in watts subtracted from the runs.
    public var idleWatts: Double?
    /// Seconds the measured runs took.
    public var seconds: Double
    /// One line per meter that could not be used: "RAPL: no /sys/class/powercap".
    public var unavailable: [String]

    /// Measures `run` (called `runs` times, each doing `inferencesPerRun` inferences) with the
    /// meters whose kind is `.measured` and that are available; their readings are summed
    /// (they count different devices, e.g. CPU package and GPU). The idle power is read over
    /// `idleSeconds` of sleep first. Time-based estimate meters are not used here: their
    /// figure is not a measurement.
    public static func measure(meters: [any EnergyMeter], runs: Int, inferencesPerRun: Int, idleSeconds: Double = 1,
                               run: () throws -> Void) throws -> InferenceMeasurement {
        guard runs >= 1, inferencesPerRun >= 1 else {
            throw EnergyError.invalidArgument("runs (\(runs)) and inferences per run (\(inferencesPerRun)) must be at least 1")
        }
        var unavailable: [String] = []
        var usable: [any EnergyMeter] = []
        for m in meters {
            if let reason = m.unavailableReason {
                unavailable.append("\(m.name): \(reason)")
            } else if m.kind == .measured {
                usable.append(m)
            }
        }
        guard !usable.isEmpty else {
            let started = DispatchTime.now().uptimeNanoseconds
            for _ in 0..<runs { try run() }
            let seconds = Double(DispatchTime.now().uptimeNanoseconds - started) * 1e-9
            return InferenceMeasurement(perInference: nil, idleWatts: nil, seconds: seconds, unavailable: unavailable)
        }
        let (idleJoules, idleTime) = try interval(usable) { Thread.sleep(forTimeInterval: idleSeconds) }
        let idleWatts = idleTime > 0 ? idleJoules / idleTime : 0
        let (joules, seconds) = try interval(usable) { for _ in 0..<runs { try run() } }
        let net = max(0, joules - idleWatts * seconds)
        let reading = EnergyReading(joules: net / Double(runs * inferencesPerRun), kind: .measured,
                                    source: usable.map(\.name).joined(separator: "+"), seconds: seconds / Double(runs * inferencesPerRun))
        return InferenceMeasurement(perInference: reading, idleWatts: idleWatts, seconds: seconds, unavailable: unavailable)
    }

    /// Joules summed over `meters` and wall-clock seconds of `body`.
    static func interval(_ meters: [any EnergyMeter], _ body: () throws -> Void) throws -> (Double, Double) {
        for m in meters { try m.start() }
        let started = DispatchTime.now().uptimeNanoseconds
        try body()
        let seconds = Double(DispatchTime.now().uptimeNanoseconds - started) * 1e-9
        var joules = 0.0
        for m in meters { joules += try m.stop().joules }
        return (joules, seconds)
    }
}
