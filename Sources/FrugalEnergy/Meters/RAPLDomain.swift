import Foundation

/// One RAPL power zone found under powercap sysfs, e.g. `intel-rapl:0:1` named "uncore".
///
/// Linux lays the zones out as `intel-rapl:P` (one per package/socket, or the platform zone
/// "psys") and `intel-rapl:P:S` (sub-zones of package P: "core", "uncore", sometimes "dram").
/// On AMD the same driver names the zones the same way.
public struct RAPLDomain: Sendable, Hashable {
    /// What a zone measures, and so whether it may be added to the others.
    public enum Role: String, Sendable, Hashable {
        /// The whole socket: cores, caches, memory controller, integrated GPU. Counted.
        case package
        /// All cores of a package (PP0). Inside `package`: never added to it.
        case core
        /// Integrated graphics and other uncore parts (PP1). Inside `package`: never added.
        case uncore
        /// The DIMMs attached to a package. A separate power plane that the package counter
        /// does not include, even when sysfs lists it under the package. Counted.
        case dram
        /// The whole platform (SoC plus more) on client parts. It contains `package` and
        /// `dram`, so it is counted only when no package zone exists.
        case psys
        /// A zone whose name this code does not know; reported, never counted.
        case other
    }

    /// Zone directory name, e.g. "intel-rapl:0:2".
    public var zone: String
    /// The zone's own `name` file, e.g. "package-0", "core", "dram".
    public var name: String
    public var role: Role
    /// The top-level zone this one belongs to ("intel-rapl:0"), nil for top-level zones.
    public var parent: String?
    /// Absolute path of the zone directory.
    public var path: String
    /// `max_energy_range_uj`: the counter wraps to 0 after this many microjoules.
    public var maxEnergyRangeMicrojoules: UInt64

    /// A label unique within a machine: "package-0", "package-0/core", "package-1/dram",
    /// or the top-level name with its zone when it stands alone ("dram@intel-rapl:2").
    public var label: String

    public var energyPath: String { path + "/energy_uj" }

    static func role(forName name: String) -> Role {
        let n = name.lowercased()
        if n.hasPrefix("package") { return .package }
        switch n {
        case "core", "pp0": return .core
        case "uncore", "pp1", "gpu": return .uncore
        case "dram": return .dram
        case "psys", "platform": return .psys
        default: return .other
        }
    }
}

/// Energy of one domain over an interval.
public struct RAPLDomainEnergy: Sendable, Hashable, Codable {
    public var label: String
    public var joules: Double
    /// Whether this domain is part of the total (package and dram are; core, uncore and psys
    /// are contained in another counted domain).
    public var counted: Bool
    /// How many times the counter wrapped during the interval (as seen by the samples taken).
    public var wraps: Int

    public init(label: String, joules: Double, counted: Bool, wraps: Int) {
        self.label = label
        self.joules = joules
        self.counted = counted
        self.wraps = wraps
    }
}

/// Finds RAPL zones under a powercap root and decides which ones make the total.
enum RAPLDiscovery {
    struct Found {
        var domains: [RAPLDomain]
        /// Why no usable zone was found, nil when some were.
        var problem: String?
    }

    /// Zone names are "intel-rapl:N" or "intel-rapl:N:M". `intel-rapl-mmio:*` zones repeat the
    /// package counter through MMIO and are skipped so that nothing is counted twice.
    static func parseZoneName(_ entry: String) -> [Int]? {
        guard entry.hasPrefix("intel-rapl:") else { return nil }
        let parts = entry.dropFirst("intel-rapl:".count).split(separator: ":", omittingEmptySubsequences: false)
        guard (1...2).contains(parts.count) else { return nil }
        let ids = parts.compactMap { Int($0) }
        return ids.count == parts.count ? ids : nil
    }

    static func discover(root: String, reader: TextFileReading) -> Found {
        guard let entries = reader.list(root) else {
            return Found(domains: [], problem: "no \(root): this kernel exposes no powercap interface, as in most VMs and containers")
        }
        let zones = entries.compactMap { e in parseZoneName(e).map { (e, $0) } }
            .sorted { $0.1.lexicographicallyPrecedes($1.1) }
        if zones.isEmpty {
            return Found(domains: [], problem: "no RAPL zones under \(root) (load the intel_rapl_common / intel_rapl_msr kernel modules; VMs usually hide RAPL)")
        }
        var domains: [RAPLDomain] = []
        var nameOf: [String: String] = [:]
        for (entry, ids) in zones {
            let path = root + "/" + entry
            let name: String
            switch reader.read(path + "/name") {
            case .success(let s): name = s.trimmingCharacters(in: .whitespacesAndNewlines)
            case .failure: name = entry
            }
            nameOf[entry] = name
            var maxRange: UInt64 = 0
            if case .success(let s) = reader.read(path + "/max_energy_range_uj"),
               let v = UInt64(s.trimmingCharacters(in: .whitespacesAndNewlines)) { maxRange = v }
            let parent = ids.count == 2 ? "intel-rapl:\(ids[0])" : nil
            let label: String
            if let parent, let parentName = nameOf[parent] {
                label = parentName + "/" + name
            } else {
                label = name
            }
            domains.append(RAPLDomain(
                zone: entry, name: name, role: RAPLDomain.role(forName: name), parent: parent, path: path,
                maxEnergyRangeMicrojoules: maxRange, label: label))
        }
        // Top-level names that repeat ("dram" on two sockets) get their zone appended.
        let topLabels = domains.filter { $0.parent == nil }.map(\.label)
        for i in domains.indices where domains[i].parent == nil {
            if topLabels.filter({ $0 == domains[i].label }).count > 1 {
                domains[i].label += "@" + domains[i].zone
            }
        }
        return Found(domains: domains, problem: nil)
    }

    /// The domains whose sum is the total, without counting any energy twice:
    /// every package plus every dram (nested or top-level); psys alone only when there is no
    /// package zone (psys contains the packages).
    static func counted(_ domains: [RAPLDomain]) -> Set<String> {
        let packages = domains.filter { $0.role == .package }
        if packages.isEmpty {
            return Set(domains.filter { $0.role == .psys }.map(\.zone))
        }
        return Set((packages + domains.filter { $0.role == .dram }).map(\.zone))
    }
}
