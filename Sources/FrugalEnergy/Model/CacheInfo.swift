import Foundation

/// The size of the last-level cache, which decides whether the energy model charges a
/// node's memory traffic at the on-chip (SRAM) or the DRAM cost.
public struct CacheInfo: Sendable, Hashable {
    /// Bytes of the largest data or unified cache level of CPU 0.
    public var lastLevelBytes: Int
    /// Where the figure came from: the sysfs directory, or "default" when it could not be read.
    public var source: String

    public init(lastLevelBytes: Int, source: String) {
        self.lastLevelBytes = lastLevelBytes
        self.source = source
    }

    /// Used when sysfs has no cache description (macOS, some containers): 8 MiB, a typical
    /// last-level cache of a laptop or small server CPU.
    public static let fallbackBytes = 8 << 20

    /// Reads `root/index*/{level,type,size}` through the sysfs reader the meters use (root
    /// defaults to Linux's /sys/devices/system/cpu/cpu0/cache) and returns the highest-level Data or Unified cache.
    /// Falls back to ``fallbackBytes`` when the directory is absent or unreadable.
    public static func read(root: String = "/sys/devices/system/cpu/cpu0/cache",
                            reader: TextFileReading = SystemFileReader()) -> CacheInfo {
        guard let entries = reader.list(root) else {
            return CacheInfo(lastLevelBytes: fallbackBytes, source: "default (no \(root))")
        }
        var best: (level: Int, bytes: Int)?
        for entry in entries.sorted() where entry.hasPrefix("index") {
            let dir = root + "/" + entry + "/"
            func field(_ f: String) -> String? {
                (try? reader.read(dir + f).get())?.trimmingCharacters(in: .whitespacesAndNewlines)
            }
            guard let type = field("type"), type == "Data" || type == "Unified",
                  let level = field("level").flatMap(Int.init), let size = field("size").flatMap(parseSize)
            else { continue }
            if best == nil || level > best!.level || (level == best!.level && size > best!.bytes) { best = (level, size) }
        }
        guard let best else { return CacheInfo(lastLevelBytes: fallbackBytes, source: "default (no readable cache in \(root))") }
        return CacheInfo(lastLevelBytes: best.bytes, source: "\(root) (L\(best.level))")
    }

    /// Parses sysfs sizes such as "48K", "2048K", "36M" or a plain byte count.
    static func parseSize(_ s: String) -> Int? {
        guard let last = s.last else { return nil }
        let multipliers: [Character: Int] = ["K": 1 << 10, "M": 1 << 20, "G": 1 << 30]
        if let m = multipliers[Character(last.uppercased())] {
            return Int(s.dropLast()).flatMap { $0 > 0 ? $0 * m : nil }
        }
        return Int(s).flatMap { $0 > 0 ? $0 : nil }
    }
}
