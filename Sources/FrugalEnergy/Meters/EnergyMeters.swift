import Foundation

/// A meter that cannot be used here, and why ("no /sys/class/powercap ...").
public struct UnavailableMeter: Sendable, Hashable {
    public var name: String
    public var reason: String
}

/// The readings of an interval: one per meter, and their total.
public struct EnergyMeasurement: Sendable {
    public var readings: [EnergyReading]
    /// Sum of the readings. Its kind is `.measured` only when every part was measured; a sum that
    /// includes an estimate is `.estimated`, and its source names each part with its kind.
    public var total: EnergyReading
}

/// The meters chosen for this machine: a CPU meter (RAPL when readable, else the CPU-time
/// estimate) and NVML when an NVIDIA driver is present.
public final class EnergyMeterSet {
    public let meters: [EnergyMeter]
    public let unavailable: [UnavailableMeter]

    public init(meters: [EnergyMeter], unavailable: [UnavailableMeter]) {
        self.meters = meters
        self.unavailable = unavailable
    }

    public func start() throws {
        for (i, m) in meters.enumerated() {
            do { try m.start() } catch {
                for started in meters[..<i] { _ = try? started.stop() }
                throw error
            }
        }
    }

    public func stop() throws -> EnergyMeasurement {
        var readings: [EnergyReading] = []
        var firstError: Error?
        for m in meters {
            do { readings.append(try m.stop()) } catch { if firstError == nil { firstError = error } }
        }
        if let firstError { throw firstError }
        return EnergyMeasurement(readings: readings, total: EnergyMeters.sum(readings))
    }
}

public enum EnergyMeters {
    /// Picks the meters for this machine. RAPL is used when its counters can be read; otherwise
    /// the CPU-time estimate (over `cpuScope`) stands in, and RAPL's reason is listed in
    /// `unavailable`. NVML is added when the library loads, else listed in `unavailable`.
    public static func best(
        tdp: Double? = nil, cpuScope: CPUTimeScope = .process,
        powercapRoot: String = "/sys/class/powercap", nvmlLibrary: String = "libnvidia-ml.so.1",
        cpu: ProcessorDescription? = nil, reader: TextFileReading = SystemFileReader()
    ) throws -> EnergyMeterSet {
        var meters: [EnergyMeter] = []
        var unavailable: [UnavailableMeter] = []
        let rapl = RAPLMeter(root: powercapRoot, reader: reader)
        if let reason = rapl.unavailableReason {
            unavailable.append(UnavailableMeter(name: "RAPL", reason: reason))
            let power = try CPUPowerEstimate.resolve(cpu: cpu ?? ProcessorDescription.current(reader: reader), userTDP: tdp)
            meters.append(CPUTimeEstimateMeter(power: power, scope: cpuScope))
        } else {
            if let tdp { _ = try CPUPowerEstimate.resolve(cpu: cpu ?? ProcessorDescription.current(reader: reader), userTDP: tdp) }
            meters.append(rapl)
        }
        let nvml = NVMLMeter(library: nvmlLibrary)
        if let reason = nvml.unavailableReason {
            unavailable.append(UnavailableMeter(name: "NVML", reason: reason))
        } else {
            meters.append(nvml)
        }
        return EnergyMeterSet(meters: meters, unavailable: unavailable)
    }

    /// Adds readings without hiding a mix of kinds.
    public static func sum(_ readings: [EnergyReading]) -> EnergyReading {
        let joules = readings.reduce(0) { $0 + $1.joules }
        let seconds = readings.map(\.seconds).max() ?? 0
        let kinds = Set(readings.map(\.kind))
        if readings.count == 1 { return readings[0] }
        if kinds.count <= 1 {
            return EnergyReading(joules: joules, kind: kinds.first ?? .estimated,
                                 source: readings.map(\.source).joined(separator: " + "), seconds: seconds)
        }
        let parts = readings.map { "\($0.source) [\($0.kind.rawValue)]" }.joined(separator: " + ")
        return EnergyReading(joules: joules, kind: .estimated, source: "mixed: " + parts, seconds: seconds)
    }
}
