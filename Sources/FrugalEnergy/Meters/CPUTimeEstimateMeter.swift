#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import Foundation

/// Power per busy core for the time-based estimate, with where it came from.
public struct CPUPowerEstimate: Sendable, Hashable {
    public enum Basis: String, Sendable, Hashable {
        /// The CPU's model name is in `CPUPowerTable`.
        case table
        /// A generic (virtualised) model name; the CPUID family picked a representative part.
        case family
        /// The user's `--tdp`.
        case user
        /// Unknown CPU: CodeCarbon's 85 W default.
        case `default`
    }

    public var wattsPerCore: Double
    public var tdpWatts: Double
    public var cores: Int
    public var basis: Basis
    /// Human-readable provenance, e.g. "Intel Xeon Platinum 8380, 270 W / 40 cores (Intel ARK ...)".
    public var description: String

    /// Chooses the per-core power for `cpu`: the user's TDP over this machine's physical cores,
    /// else the table row for its model name, else its CPUID family's representative part,
    /// else CodeCarbon's 85 W default over this machine's physical cores.
    public static func resolve(cpu: ProcessorDescription, userTDP: Double? = nil) throws -> CPUPowerEstimate {
        if let w = userTDP {
            guard w.isFinite, w > 0, w <= 2000 else {
                throw EnergyError.invalidArgument("--tdp \(w) W is out of range: give the processor's TDP in watts (1 to 2000)")
            }
            return CPUPowerEstimate(
                wattsPerCore: w / Double(cpu.physicalCores), tdpWatts: w, cores: cpu.physicalCores, basis: .user,
                description: "--tdp \(fmt(w)) W / \(cpu.physicalCores) cores")
        }
        if let spec = CPUPowerTable.lookup(modelName: cpu.modelName) {
            return CPUPowerEstimate(
                wattsPerCore: spec.wattsPerCore, tdpWatts: spec.tdpWatts, cores: spec.cores, basis: .table,
                description: "\(spec.name), \(fmt(spec.tdpWatts)) W / \(spec.cores) cores (\(spec.source))")
        }
        if let family = cpu.family, let model = cpu.model,
           let f = CPUPowerTable.families.first(where: { $0.vendor == cpu.vendor && $0.family == family && $0.model == model }),
           let spec = CPUPowerTable.spec(key: f.key) {
            return CPUPowerEstimate(
                wattsPerCore: spec.wattsPerCore, tdpWatts: spec.tdpWatts, cores: spec.cores, basis: .family,
                description: "'\(cpu.modelName)' is CPUID family \(family) model \(model) (\(f.generation)); "
                    + "per-core power of the \(spec.name), \(fmt(spec.tdpWatts)) W / \(spec.cores) cores (\(spec.source))")
        }
        let w = CPUPowerTable.defaultTDPWatts
        return CPUPowerEstimate(
            wattsPerCore: w / Double(cpu.physicalCores), tdpWatts: w, cores: cpu.physicalCores, basis: .default,
            description: "default \(fmt(w)) W TDP (CodeCarbon's figure for unknown CPUs; '\(cpu.modelName)' is not in the table, pass --tdp) / \(cpu.physicalCores) cores")
    }

    static func fmt(_ x: Double) -> String {
        x == x.rounded() ? String(Int(x)) : String(format: "%.2f", x)
    }
}

/// Whose CPU time the estimate counts.
public enum CPUTimeScope: String, Sendable {
    /// This process (RUSAGE_SELF).
    case process
    /// Children that have been waited for (RUSAGE_CHILDREN), as `frugal measure` uses.
    case children
    /// Both.
    case processAndChildren
}

/// Seconds of CPU time (user + system) consumed so far.
public protocol CPUTimeSource: Sendable {
    func cpuSeconds(_ scope: CPUTimeScope) -> Double
}

/// getrusage(2).
public struct RUsageCPUTime: CPUTimeSource {
    public init() {}

    #if canImport(Glibc)
    // Linux's values of RUSAGE_SELF and RUSAGE_CHILDREN (Glibc imports them as an enum).
    static let selfWho: __rusage_who_t = 0
    static let childrenWho: __rusage_who_t = -1
    #else
    static let selfWho = RUSAGE_SELF
    static let childrenWho = RUSAGE_CHILDREN
    #endif

    static func seconds(_ who: Int32) -> Double {
        var u = rusage()
        guard getrusage(who, &u) == 0 else { return 0 }
        func s(_ t: timeval) -> Double { Double(t.tv_sec) + Double(t.tv_usec) / 1e6 }
        return s(u.ru_utime) + s(u.ru_stime)
    }

    public func cpuSeconds(_ scope: CPUTimeScope) -> Double {
        switch scope {
        case .process: return RUsageCPUTime.seconds(RUsageCPUTime.selfWho)
        case .children: return RUsageCPUTime.seconds(RUsageCPUTime.childrenWho)
        case .processAndChildren: return RUsageCPUTime.seconds(RUsageCPUTime.selfWho) + RUsageCPUTime.seconds(RUsageCPUTime.childrenWho)
        }
    }
}

/// CodeCarbon-style fallback where no energy counter exists: energy = CPU time × per-core power,
/// per-core power = TDP / physical cores (`CPUPowerEstimate`).
///
/// It assumes a busy core draws its full share of TDP and an idle one nothing, and it ignores
/// DRAM, disks and the rest of the machine: expect errors of 2x or more either way.
/// (CodeCarbon's own constant mode instead charges half the TDP for the whole wall-clock time.)
public final class CPUTimeEstimateMeter: EnergyMeter {
    public let name = "tdp-estimate"
    public let kind = EnergyKind.estimated
    public let unavailableReason: String? = nil
    public let power: CPUPowerEstimate
    public let scope: CPUTimeScope
    private let clock: CPUTimeSource
    private var startCPU: Double?
    private var startTime: Date?
    /// CPU seconds of the last interval.
    public private(set) var lastCPUSeconds = 0.0

    public init(power: CPUPowerEstimate, scope: CPUTimeScope = .process, clock: CPUTimeSource = RUsageCPUTime()) {
        self.power = power
        self.scope = scope
        self.clock = clock
    }

    public func start() throws {
        startCPU = clock.cpuSeconds(scope)
        startTime = Date()
    }

    public func stop() throws -> EnergyReading {
        guard let c0 = startCPU, let t0 = startTime else { throw EnergyError.notStarted(meter: name) }
        startCPU = nil
        startTime = nil
        lastCPUSeconds = max(0, clock.cpuSeconds(scope) - c0)
        let basis = power.basis == .default ? "default" : power.basis.rawValue
        let source = "tdp-estimate(\(basis)):\(CPUPowerEstimate.fmt((power.wattsPerCore * 100).rounded() / 100)) W/core × "
            + "\(String(format: "%.3f", lastCPUSeconds)) CPU-s; \(power.description)"
        return EnergyReading(joules: lastCPUSeconds * power.wattsPerCore, kind: .estimated, source: source,
                             seconds: Date().timeIntervalSince(t0))
    }
}
