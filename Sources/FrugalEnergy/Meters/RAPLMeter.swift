import Dispatch
import Foundation

/// Linux RAPL energy counters read through powercap sysfs (`/sys/class/powercap/intel-rapl:*`).
///
/// - Every package (socket) is found, with its sub-zones (core, uncore, dram) and any top-level
///   dram or psys zone. The total is the packages plus the dram zones; core and uncore are
///   inside their package and psys contains everything, so they are reported but not added
///   (psys is used alone only on machines without a package zone).
/// - Counters wrap at `max_energy_range_uj`. A counter lower at a read than at the previous read
///   wrapped once. More than one wrap between two reads cannot be seen, so long runs should
///   sample: pass `samplingInterval` (see `recommendedSamplingInterval`) or call `sample()`.
/// - Since Linux 5.10 `energy_uj` is readable by root only; the error then says how to grant
///   read access.
public final class RAPLMeter: EnergyMeter {
    public let name = "rapl"
    public let kind = EnergyKind.measured
    public let root: String
    /// Every zone found, in zone order.
    public let domains: [RAPLDomain]
    /// Zones whose sum is the total.
    public let countedZones: Set<String>
    public let unavailableReason: String?
    /// Seconds between background reads while started; nil reads only at start and stop.
    public var samplingInterval: Double?

    private let reader: TextFileReading
    private let lock = NSLock()
    /// Serialises whole samples (read + apply), so the timer and `stop()` cannot interleave.
    private let sampleLock = NSLock()
    private var last: [String: UInt64] = [:]
    private var accumulated: [String: Double] = [:]
    private var wraps: [String: Int] = [:]
    private var startTime: DispatchTime?
    private var timer: DispatchSourceTimer?
    private var samplingError: Error?
    /// Per-domain energies of the last interval (after `stop()`).
    public private(set) var lastBreakdown: [RAPLDomainEnergy] = []

    public init(root: String = "/sys/class/powercap", reader: TextFileReading = SystemFileReader(),
                samplingInterval: Double? = nil) {
        self.root = root
        self.reader = reader
        self.samplingInterval = samplingInterval
        let found = RAPLDiscovery.discover(root: root, reader: reader)
        domains = found.domains
        countedZones = RAPLDiscovery.counted(found.domains)
        if let problem = found.problem {
            unavailableReason = problem
        } else if countedZones.isEmpty {
            let names = found.domains.map(\.name).joined(separator: ", ")
            unavailableReason = "no package, dram or psys zone under \(root) (found: \(names))"
        } else {
            var reason: String?
            for d in found.domains where countedZones.contains(d.zone) {
                if case .failure(let f) = reader.read(d.energyPath) {
                    reason = RAPLMeter.explain(f)
                    break
                }
            }
            unavailableReason = reason
        }
    }

    /// What to tell the user when a counter cannot be read.
    static func explain(_ f: FileReadFailure) -> String {
        if f.isPermissionDenied {
            return "permission denied reading \(f.path) (energy_uj is root-only since Linux 5.10). "
                + "Grant read access until reboot with `sudo chmod o+r /sys/class/powercap/intel-rapl:*/energy_uj "
                + "/sys/class/powercap/intel-rapl:*:*/energy_uj`, or for good with a udev rule such as "
                + "`ACTION==\"add\", SUBSYSTEM==\"powercap\", KERNEL==\"intel-rapl:*\", "
                + "RUN+=\"/bin/chmod o+r /sys/class/powercap/%k/energy_uj\"` in /etc/udev/rules.d/99-rapl.rules, or run as root"
        }
        return "cannot read \(f.path): \(f.reason)"
    }

    /// Seconds between reads so that no counter can wrap twice between two of them, assuming no
    /// domain draws more than `maxPowerWatts`; half the fastest wrap period, clamped to 1...600 s.
    public func recommendedSamplingInterval(maxPowerWatts: Double = 500) -> Double {
        let ranges = domains.filter { countedZones.contains($0.zone) && $0.maxEnergyRangeMicrojoules > 0 }
            .map { Double($0.maxEnergyRangeMicrojoules) / 1e6 / maxPowerWatts / 2 }
        return min(600, max(1, ranges.min() ?? 60))
    }

    private func readCounter(_ d: RAPLDomain) throws -> UInt64 {
        switch reader.read(d.energyPath) {
        case .failure(let f):
            throw EnergyError.meterUnavailable(meter: name, reason: RAPLMeter.explain(f))
        case .success(let text):
            guard let v = UInt64(text.trimmingCharacters(in: .whitespacesAndNewlines)) else {
                throw EnergyError.badFile(path: d.energyPath, reason: "expected a whole number of microjoules, found '\(text.prefix(40))'")
            }
            return v
        }
    }

    /// Microjoules between two reads of a counter, with at most one wrap.
    static func delta(from old: UInt64, to new: UInt64, range: UInt64, path: String) throws -> (UInt64, wrapped: Bool) {
        if new >= old { return (new - old, false) }
        guard range > 0, old <= range else {
            throw EnergyError.badFile(
                path: path, reason: "counter went from \(old) down to \(new) µJ but max_energy_range_uj is missing or smaller, so the wrap cannot be undone")
        }
        return (range - old + new, true)
    }

    /// Zones read at each sample: the counted ones (errors are fatal) and the others when readable.
    private func readAll() throws -> [String: UInt64] {
        var values: [String: UInt64] = [:]
        for d in domains {
            if countedZones.contains(d.zone) {
                values[d.zone] = try readCounter(d)
            } else if let v = try? readCounter(d) {
                values[d.zone] = v
            }
        }
        return values
    }

    public func start() throws {
        if let reason = unavailableReason { throw EnergyError.meterUnavailable(meter: name, reason: reason) }
        timer?.cancel()  // a second start() begins a new interval
        timer = nil
        let values = try readAll()
        lock.lock()
        last = values
        accumulated = values.mapValues { _ in 0 }
        wraps = values.mapValues { _ in 0 }
        samplingError = nil
        startTime = DispatchTime.now()
        lock.unlock()
        if let interval = samplingInterval, interval > 0 {
            let t = DispatchSource.makeTimerSource(queue: DispatchQueue(label: "frugal.rapl.sampler"))
            t.schedule(deadline: .now() + interval, repeating: interval)
            t.setEventHandler { [weak self] in
                guard let self else { return }
                do { try self.sample() } catch {
                    self.lock.lock(); self.samplingError = error; self.lock.unlock()
                }
            }
            timer = t
            t.resume()
        }
    }

    /// Reads every counter now and adds what it moved since the previous read. Call it at least
    /// once per wrap period in long runs (the background timer does this when enabled).
    public func sample() throws {
        sampleLock.lock()
        defer { sampleLock.unlock() }
        lock.lock()
        let started = startTime != nil
        lock.unlock()
        guard started else { throw EnergyError.notStarted(meter: name) }
        let values = try readAll()
        lock.lock()
        defer { lock.unlock() }
        for d in domains {
            guard let new = values[d.zone], let old = last[d.zone] else { continue }
            let (du, wrapped) = try RAPLMeter.delta(from: old, to: new, range: d.maxEnergyRangeMicrojoules, path: d.energyPath)
            accumulated[d.zone, default: 0] += Double(du)
            if wrapped { wraps[d.zone, default: 0] += 1 }
            last[d.zone] = new
        }
    }

    public func stop() throws -> EnergyReading {
        timer?.cancel()
        timer = nil
        lock.lock()
        let began = startTime
        let pending = samplingError
        lock.unlock()
        guard let began else { throw EnergyError.notStarted(meter: name) }
        if let pending { throw pending }
        try sample()
        let seconds = Double(DispatchTime.now().uptimeNanoseconds - began.uptimeNanoseconds) / 1e9
        lock.lock()
        defer { startTime = nil; lock.unlock() }
        lastBreakdown = domains.compactMap { d in
            guard let uj = accumulated[d.zone] else { return nil }
            return RAPLDomainEnergy(label: d.label, joules: uj / 1e6, counted: countedZones.contains(d.zone), wraps: wraps[d.zone] ?? 0)
        }
        let counted = lastBreakdown.filter(\.counted)
        let total = counted.reduce(0) { $0 + $1.joules }
        let source = "rapl:" + counted.map(\.label).joined(separator: "+")
        return EnergyReading(joules: total, kind: .measured, source: source, seconds: seconds)
    }

    /// Joules of the counted dram domains in the last interval (CodeCarbon's ram_energy).
    public var lastDRAMJoules: Double {
        let dramLabels = Set(domains.filter { $0.role == .dram }.map(\.label))
        return lastBreakdown.filter { $0.counted && dramLabels.contains($0.label) }.reduce(0) { $0 + $1.joules }
    }
}
