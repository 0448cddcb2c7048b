import Foundation

/// Whether an energy figure came from a hardware counter or from a model.
///
/// Reports never mix the two silently: every figure carries its kind and its source.
public enum EnergyKind: String, Sendable, Codable, Hashable {
    /// Read from a hardware energy counter (RAPL, NVML).
    case measured
    /// Computed: an op-level model over the executed plan, or CPU time × per-core power.
    case estimated
}

/// One energy figure with its provenance.
public struct EnergyReading: Sendable, Hashable, Codable {
    /// Energy in joules.
    public var joules: Double
    public var kind: EnergyKind
    /// Which meter or model produced it, e.g. "rapl:package-0+dram", "nvml:gpu0",
    /// "tdp-estimate:Intel Xeon (10.5 W/core)", "model:horowitz-45nm".
    public var source: String
    /// Wall-clock seconds the reading covers (0 when not applicable, e.g. per-inference model).
    public var seconds: Double

    public init(joules: Double, kind: EnergyKind, source: String, seconds: Double = 0) {
        self.joules = joules
        self.kind = kind
        self.source = source
        self.seconds = seconds
    }

    public var kilowattHours: Double { joules / 3.6e6 }
}

/// A source of energy readings over an interval: start, run the work, stop.
///
/// Implementations: `RAPLMeter` (Linux powercap), `NVMLMeter` (NVIDIA GPUs via dlopen),
/// `CPUTimeEstimateMeter` (process CPU time × per-core power, CodeCarbon's fallback).
public protocol EnergyMeter: AnyObject {
    /// Human-readable name used as the reading's source, e.g. "rapl".
    var name: String { get }
    /// `.measured` for counters, `.estimated` for time-based estimates.
    var kind: EnergyKind { get }
    /// Why the meter cannot be used here, or nil when it can.
    var unavailableReason: String? { get }
    /// Begins an interval.
    func start() throws
    /// Ends the interval begun by `start()` and returns the energy used during it.
    func stop() throws -> EnergyReading
}
