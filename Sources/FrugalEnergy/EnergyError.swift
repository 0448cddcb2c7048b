import Foundation

/// The one error type of FrugalEnergy. Messages name the file, node or meter and what to do.
public enum EnergyError: Error, CustomStringConvertible, Equatable, Sendable {
    /// A meter cannot be used on this machine (no counters, no library, no permission).
    case meterUnavailable(meter: String, reason: String)
    /// A file (sysfs counter, cost table, CSV) could not be read or parsed.
    case badFile(path: String, reason: String)
    /// An argument is out of range (negative PUE, unknown region, ...).
    case invalidArgument(String)
    /// The meter was stopped without being started.
    case notStarted(meter: String)

    public var description: String {
        switch self {
        case let .meterUnavailable(meter, reason): return "energy meter '\(meter)' is not available: \(reason)"
        case let .badFile(path, reason): return "\(path): \(reason)"
        case let .invalidArgument(msg): return msg
        case let .notStarted(meter): return "energy meter '\(meter)' was stopped before it was started"
        }
    }
}
