import Foundation
import XCTest
@testable import FrugalEnergy

/// A synthetic powercap tree in a temporary directory, laid out as /sys/class/powercap is:
/// flat zone directories `intel-rapl:P` and `intel-rapl:P:S`, each with name, energy_uj and
/// max_energy_range_uj.
final class PowercapFixture {
    let root: String

    init() throws {
        root = NSTemporaryDirectory() + "frugal-powercap-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: root, withIntermediateDirectories: true)
    }

    deinit { try? FileManager.default.removeItem(atPath: root) }

    func zone(_ zone: String, name: String, energy: UInt64?, maxRange: UInt64? = 262_143_328_850) throws {
        let dir = root + "/" + zone
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        try (name + "\n").write(toFile: dir + "/name", atomically: true, encoding: .utf8)
        if let energy { try set(zone, energy) }
        if let maxRange { try "\(maxRange)\n".write(toFile: dir + "/max_energy_range_uj", atomically: true, encoding: .utf8) }
    }

    func set(_ zone: String, _ energy: UInt64) throws {
        try "\(energy)\n".write(toFile: root + "/" + zone + "/energy_uj", atomically: true, encoding: .utf8)
    }

    /// Two Intel sockets: package with core, uncore and dram sub-zones on socket 0; package with
    /// core and dram on socket 1. Also the control-type directory and an MMIO duplicate, which
    /// must be ignored.
    static func twoSockets() throws -> PowercapFixture {
        let f = try PowercapFixture()
        try FileManager.default.createDirectory(atPath: f.root + "/intel-rapl", withIntermediateDirectories: true)
        try f.zone("intel-rapl:0", name: "package-0", energy: 1_000_000)
        try f.zone("intel-rapl:0:0", name: "core", energy: 500_000)
        try f.zone("intel-rapl:0:1", name: "uncore", energy: 100_000)
        try f.zone("intel-rapl:0:2", name: "dram", energy: 300_000)
        try f.zone("intel-rapl:1", name: "package-1", energy: 2_000_000)
        try f.zone("intel-rapl:1:0", name: "core", energy: 700_000)
        try f.zone("intel-rapl:1:1", name: "dram", energy: 400_000)
        try f.zone("intel-rapl-mmio:0", name: "package-0", energy: 1_000_000)
        return f
    }
}

/// Reads real files but answers EACCES for paths with a given suffix, as a non-root user sees
/// energy_uj since Linux 5.10 (chmod cannot show this when the tests run as root).
struct DenyingReader: TextFileReading {
    var deniedSuffix: String
    let base = SystemFileReader()

    func read(_ path: String) -> Result<String, FileReadFailure> {
        if path.hasSuffix(deniedSuffix) { return .failure(FileReadFailure(path: path, code: EACCES)) }
        return base.read(path)
    }

    func list(_ directory: String) -> [String]? { base.list(directory) }
}
