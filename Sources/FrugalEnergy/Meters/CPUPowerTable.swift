import Foundation

/// Thermal design power of common CPUs, for the time-based estimate (CPU time × TDP / cores).
///
/// Figures are the vendors' own: Intel's product specification pages (ark.intel.com: "TDP", or
/// "Processor Base Power" for 12th generation Core and later) and AMD's product pages (amd.com:
/// "Default TDP"). Apple publishes no TDP; its rows use the maximum power Apple lists for the
/// Mac mini with that chip (Apple's "Mac mini power consumption and thermal output" support
/// page), which covers the whole computer and so overstates the chip; treat them as upper bounds.
public struct CPUPowerSpec: Sendable, Hashable {
    /// Lower-case model key as it appears in /proc/cpuinfo's model name, e.g. "xeon platinum 8380".
    public var key: String
    /// Display name.
    public var name: String
    public var tdpWatts: Double
    /// Physical cores of the whole chip (not of a VM's share of it).
    public var cores: Int
    public var source: String

    public var wattsPerCore: Double { tdpWatts / Double(cores) }
}

public enum CPUPowerTable {
    static let ark = "Intel ARK product specifications"
    static let amd = "AMD product specifications (amd.com)"
    static let apple = "Apple, Mac mini power consumption (max, whole computer; Apple publishes no TDP)"

    public static let entries: [CPUPowerSpec] = [
        // Intel Xeon (servers)
        CPUPowerSpec(key: "xeon platinum 8592+", name: "Intel Xeon Platinum 8592+", tdpWatts: 350, cores: 64, source: ark),
        CPUPowerSpec(key: "xeon platinum 8480+", name: "Intel Xeon Platinum 8480+", tdpWatts: 350, cores: 56, source: ark),
        CPUPowerSpec(key: "xeon platinum 8380", name: "Intel Xeon Platinum 8380", tdpWatts: 270, cores: 40, source: ark),
        CPUPowerSpec(key: "xeon platinum 8280", name: "Intel Xeon Platinum 8280", tdpWatts: 205, cores: 28, source: ark),
        CPUPowerSpec(key: "xeon platinum 8180", name: "Intel Xeon Platinum 8180", tdpWatts: 205, cores: 28, source: ark),
        CPUPowerSpec(key: "xeon gold 6338", name: "Intel Xeon Gold 6338", tdpWatts: 205, cores: 32, source: ark),
        CPUPowerSpec(key: "xeon gold 6248", name: "Intel Xeon Gold 6248", tdpWatts: 150, cores: 20, source: ark),
        CPUPowerSpec(key: "xeon gold 6230", name: "Intel Xeon Gold 6230", tdpWatts: 125, cores: 20, source: ark),
        CPUPowerSpec(key: "xeon gold 6130", name: "Intel Xeon Gold 6130", tdpWatts: 125, cores: 16, source: ark),
        CPUPowerSpec(key: "xeon silver 4214", name: "Intel Xeon Silver 4214", tdpWatts: 85, cores: 12, source: ark),
        CPUPowerSpec(key: "xeon silver 4210", name: "Intel Xeon Silver 4210", tdpWatts: 85, cores: 10, source: ark),
        CPUPowerSpec(key: "xeon e5-2690 v4", name: "Intel Xeon E5-2690 v4", tdpWatts: 135, cores: 14, source: ark),
        CPUPowerSpec(key: "xeon e5-2680 v4", name: "Intel Xeon E5-2680 v4", tdpWatts: 120, cores: 14, source: ark),
        CPUPowerSpec(key: "xeon e5-2620 v3", name: "Intel Xeon E5-2620 v3", tdpWatts: 85, cores: 6, source: ark),
        CPUPowerSpec(key: "xeon e3-1240 v2", name: "Intel Xeon E3-1240 v2", tdpWatts: 69, cores: 4, source: ark),
        // Intel Core (desktops, laptops)
        CPUPowerSpec(key: "core i9-13900k", name: "Intel Core i9-13900K", tdpWatts: 125, cores: 24, source: ark + " (Processor Base Power)"),
        CPUPowerSpec(key: "core i7-12700k", name: "Intel Core i7-12700K", tdpWatts: 125, cores: 12, source: ark + " (Processor Base Power)"),
        CPUPowerSpec(key: "core i9-9900k", name: "Intel Core i9-9900K", tdpWatts: 95, cores: 8, source: ark),
        CPUPowerSpec(key: "core i7-8700k", name: "Intel Core i7-8700K", tdpWatts: 95, cores: 6, source: ark),
        CPUPowerSpec(key: "core i5-10400", name: "Intel Core i5-10400", tdpWatts: 65, cores: 6, source: ark),
        CPUPowerSpec(key: "core i7-1165g7", name: "Intel Core i7-1165G7", tdpWatts: 28, cores: 4, source: ark + " (configurable TDP-up)"),
        // AMD EPYC (servers)
        CPUPowerSpec(key: "epyc 9654", name: "AMD EPYC 9654", tdpWatts: 360, cores: 96, source: amd),
        CPUPowerSpec(key: "epyc 9554", name: "AMD EPYC 9554", tdpWatts: 360, cores: 64, source: amd),
        CPUPowerSpec(key: "epyc 7763", name: "AMD EPYC 7763", tdpWatts: 280, cores: 64, source: amd),
        CPUPowerSpec(key: "epyc 7742", name: "AMD EPYC 7742", tdpWatts: 225, cores: 64, source: amd),
        CPUPowerSpec(key: "epyc 7543", name: "AMD EPYC 7543", tdpWatts: 225, cores: 32, source: amd),
        CPUPowerSpec(key: "epyc 7402", name: "AMD EPYC 7402", tdpWatts: 180, cores: 24, source: amd),
        // AMD Ryzen (desktops)
        CPUPowerSpec(key: "ryzen 9 7950x", name: "AMD Ryzen 9 7950X", tdpWatts: 170, cores: 16, source: amd),
        CPUPowerSpec(key: "ryzen 9 5950x", name: "AMD Ryzen 9 5950X", tdpWatts: 105, cores: 16, source: amd),
        CPUPowerSpec(key: "ryzen 7 5800x", name: "AMD Ryzen 7 5800X", tdpWatts: 105, cores: 8, source: amd),
        CPUPowerSpec(key: "ryzen 5 5600x", name: "AMD Ryzen 5 5600X", tdpWatts: 65, cores: 6, source: amd),
        CPUPowerSpec(key: "ryzen threadripper 2950x", name: "AMD Ryzen Threadripper 2950X", tdpWatts: 180, cores: 16, source: amd),
        // Apple silicon (exact names only: "Apple M1" must not match "Apple M1 Pro")
        CPUPowerSpec(key: "apple m1", name: "Apple M1", tdpWatts: 39, cores: 8, source: apple),
        CPUPowerSpec(key: "apple m2", name: "Apple M2", tdpWatts: 50, cores: 8, source: apple),
    ]

    /// Server families that hypervisors show under a generic name ("Intel(R) Xeon(R) Processor",
    /// "AMD EPYC Processor"): the CPUID family/model picks a representative part of that
    /// generation, whose per-core power stands for the family.
    public static let families: [(vendor: String, family: Int, model: Int, generation: String, key: String)] = [
        ("GenuineIntel", 6, 85, "Skylake-SP/Cascade Lake", "xeon platinum 8280"),
        ("GenuineIntel", 6, 106, "Ice Lake-SP", "xeon platinum 8380"),
        ("GenuineIntel", 6, 143, "Sapphire Rapids", "xeon platinum 8480+"),
        ("GenuineIntel", 6, 207, "Emerald Rapids", "xeon platinum 8592+"),
        ("AuthenticAMD", 23, 49, "Rome", "epyc 7742"),
        ("AuthenticAMD", 25, 1, "Milan", "epyc 7763"),
        ("AuthenticAMD", 25, 17, "Genoa", "epyc 9654"),
    ]

    /// CodeCarbon's TDP for a CPU it cannot identify (`POWER_CONSTANT = 85` in
    /// codecarbon/external/hardware.py). Frugal uses it the same way: TDP / physical cores.
    public static let defaultTDPWatts = 85.0

    /// Lower-cases and drops trademark marks and frequency so keys match /proc/cpuinfo text.
    static func normalize(_ s: String) -> String {
        var t = s.lowercased()
        for mark in ["(r)", "(tm)", "®", "™"] { t = t.replacingOccurrences(of: mark, with: "") }
        if let at = t.range(of: "@") { t = String(t[..<at.lowerBound]) }
        t = t.replacingOccurrences(of: " cpu", with: " ")
        return t.split(whereSeparator: { $0 == " " || $0 == "\t" }).joined(separator: " ")
    }

    /// The table row for a model name: the longest key found in it as whole words; Apple keys
    /// only when the name is exactly the key.
    public static func lookup(modelName: String) -> CPUPowerSpec? {
        let name = normalize(modelName)
        func isBoundary(_ c: Character?) -> Bool { c.map { !($0.isLetter || $0.isNumber) } ?? true }
        var best: CPUPowerSpec?
        for e in entries {
            if e.key.hasPrefix("apple ") {
                if name == e.key { best = e }
                continue
            }
            var searchStart = name.startIndex
            while let r = name.range(of: e.key, range: searchStart..<name.endIndex) {
                let before = r.lowerBound == name.startIndex ? nil : name[name.index(before: r.lowerBound)]
                let after = r.upperBound == name.endIndex ? nil : name[r.upperBound]
                if isBoundary(before) && isBoundary(after) {
                    if best == nil || e.key.count > best!.key.count { best = e }
                    break
                }
                searchStart = name.index(after: r.lowerBound)
            }
        }
        return best
    }

    public static func spec(key: String) -> CPUPowerSpec? { entries.first { $0.key == key } }
}
