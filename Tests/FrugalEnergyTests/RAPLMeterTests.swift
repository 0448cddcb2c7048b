import Foundation
import XCTest
@testable import FrugalEnergy

final class RAPLMeterTests: XCTestCase {
    func testDiscoversPackagesAndNestedDomains() throws {
        let f = try PowercapFixture.twoSockets()
        let m = RAPLMeter(root: f.root)
        XCTAssertNil(m.unavailableReason)
        XCTAssertEqual(m.domains.map(\.zone), ["intel-rapl:0", "intel-rapl:0:0", "intel-rapl:0:1", "intel-rapl:0:2",
                                              "intel-rapl:1", "intel-rapl:1:0", "intel-rapl:1:1"])
        XCTAssertEqual(m.domains.map(\.label), ["package-0", "package-0/core", "package-0/uncore", "package-0/dram",
                                               "package-1", "package-1/core", "package-1/dram"])
        XCTAssertEqual(m.domains.map(\.role), [.package, .core, .uncore, .dram, .package, .core, .dram])
        XCTAssertEqual(m.domains[1].parent, "intel-rapl:0")
        // Packages and DRAM (a separate plane even when listed under the package); core and
        // uncore are inside their package.
        XCTAssertEqual(m.countedZones, ["intel-rapl:0", "intel-rapl:0:2", "intel-rapl:1", "intel-rapl:1:1"])
    }

    func testTotalIsPackagesPlusDramWithoutNestedDomains() throws {
        let f = try PowercapFixture.twoSockets()
        let m = RAPLMeter(root: f.root)
        try m.start()
        // Energies added during the interval, in microjoules.
        let added: [String: UInt64] = ["intel-rapl:0": 4_000_000, "intel-rapl:0:0": 2_500_000, "intel-rapl:0:1": 600_000,
                                       "intel-rapl:0:2": 1_000_000, "intel-rapl:1": 3_000_000, "intel-rapl:1:0": 2_000_000,
                                       "intel-rapl:1:1": 500_000]
        let before: [String: UInt64] = ["intel-rapl:0": 1_000_000, "intel-rapl:0:0": 500_000, "intel-rapl:0:1": 100_000,
                                        "intel-rapl:0:2": 300_000, "intel-rapl:1": 2_000_000, "intel-rapl:1:0": 700_000,
                                        "intel-rapl:1:1": 400_000]
        for (zone, du) in added { try f.set(zone, before[zone]! + du) }
        let r = try m.stop()
        XCTAssertEqual(r.kind, .measured)
        XCTAssertEqual(r.joules, (4_000_000 + 1_000_000 + 3_000_000 + 500_000) / 1e6, accuracy: 1e-9)
        XCTAssertEqual(r.source, "rapl:package-0+package-0/dram+package-1+package-1/dram")
        let byLabel = Dictionary(uniqueKeysWithValues: m.lastBreakdown.map { ($0.label, $0) })
        XCTAssertEqual(byLabel["package-0/core"]?.joules ?? -1, 2.5, accuracy: 1e-9)
        XCTAssertEqual(byLabel["package-0/core"]?.counted, false)
        XCTAssertEqual(byLabel["package-0/uncore"]?.joules ?? -1, 0.6, accuracy: 1e-9)
        XCTAssertEqual(byLabel["package-1/dram"]?.counted, true)
        XCTAssertEqual(m.lastDRAMJoules, 1.5, accuracy: 1e-9)
    }

    func testCounterThatWrapsOnce() throws {
        let f = try PowercapFixture()
        let range: UInt64 = 262_143_328_850
        try f.zone("intel-rapl:0", name: "package-0", energy: range - 1_000, maxRange: range)
        let m = RAPLMeter(root: f.root)
        try m.start()
        try f.set("intel-rapl:0", 500)
        let r = try m.stop()
        // range - start + end: 1000 µJ to the top, then 500 after the wrap.
        XCTAssertEqual(r.joules, 1_500 / 1e6, accuracy: 1e-12)
        XCTAssertEqual(m.lastBreakdown.first?.wraps, 1)
    }

    func testSamplingCatchesTwoWraps() throws {
        let f = try PowercapFixture()
        try f.zone("intel-rapl:0", name: "package-0", energy: 900_000, maxRange: 1_000_000)
        let m = RAPLMeter(root: f.root)
        try m.start()
        try f.set("intel-rapl:0", 100_000)  // wrapped: +200_000
        try m.sample()
        try f.set("intel-rapl:0", 600_000)  // +500_000
        try m.sample()
        try f.set("intel-rapl:0", 200_000)  // wrapped again: +600_000
        let r = try m.stop()
        XCTAssertEqual(r.joules, (200_000 + 500_000 + 600_000) / 1e6, accuracy: 1e-12)
        XCTAssertEqual(m.lastBreakdown.first?.wraps, 2)

        // Without the samples only the start and end values are seen: 900_000 -> 200_000.
        let unsampled = RAPLMeter(root: f.root)
        try f.set("intel-rapl:0", 900_000)
        try unsampled.start()
        try f.set("intel-rapl:0", 200_000)
        XCTAssertEqual(try unsampled.stop().joules, 0.3, accuracy: 1e-12)
    }

    func testBackgroundSamplerRuns() throws {
        let f = try PowercapFixture()
        try f.zone("intel-rapl:0", name: "package-0", energy: 900_000, maxRange: 1_000_000)
        let m = RAPLMeter(root: f.root, samplingInterval: 0.05)
        try m.start()
        try f.set("intel-rapl:0", 100_000)  // wraps; the timer must see it before the next wrap
        Thread.sleep(forTimeInterval: 0.5)
        try f.set("intel-rapl:0", 50_000)  // wraps again
        let r = try m.stop()
        XCTAssertEqual(r.joules, (200_000 + 950_000) / 1e6, accuracy: 1e-12)
    }

    func testRecommendedIntervalFollowsTheSmallestRange() throws {
        let f = try PowercapFixture()
        try f.zone("intel-rapl:0", name: "package-0", energy: 0, maxRange: 262_143_328_850)
        try f.zone("intel-rapl:0:0", name: "dram", energy: 0, maxRange: 65_712_999_613)
        // 65.7 kJ at 500 W wraps in 131 s; half of that.
        XCTAssertEqual(RAPLMeter(root: f.root).recommendedSamplingInterval(), 65_712.999613 / 500 / 2, accuracy: 1e-6)
    }

    func testPsysIsNotAddedToPackages() throws {
        let f = try PowercapFixture()
        try f.zone("intel-rapl:0", name: "package-0", energy: 0)
        try f.zone("intel-rapl:0:0", name: "core", energy: 0)
        try f.zone("intel-rapl:1", name: "psys", energy: 0)
        let m = RAPLMeter(root: f.root)
        XCTAssertEqual(m.countedZones, ["intel-rapl:0"])
        try m.start()
        try f.set("intel-rapl:0", 2_000_000)
        try f.set("intel-rapl:1", 5_000_000)
        XCTAssertEqual(try m.stop().joules, 2.0, accuracy: 1e-12)
        XCTAssertEqual(m.lastBreakdown.first { $0.label == "psys" }?.joules ?? -1, 5.0, accuracy: 1e-12)

        let psysOnly = try PowercapFixture()
        try psysOnly.zone("intel-rapl:0", name: "psys", energy: 0)
        XCTAssertEqual(RAPLMeter(root: psysOnly.root).countedZones, ["intel-rapl:0"])
    }

    func testTopLevelDramIsCountedWithUniqueLabels() throws {
        let f = try PowercapFixture()
        try f.zone("intel-rapl:0", name: "package-0", energy: 0)
        try f.zone("intel-rapl:1", name: "package-1", energy: 0)
        try f.zone("intel-rapl:2", name: "dram", energy: 0)
        try f.zone("intel-rapl:3", name: "dram", energy: 0)
        let m = RAPLMeter(root: f.root)
        XCTAssertEqual(m.countedZones.count, 4)
        XCTAssertEqual(m.domains.map(\.label), ["package-0", "package-1", "dram@intel-rapl:2", "dram@intel-rapl:3"])
        try m.start()
        for (z, v) in [("intel-rapl:0", 1), ("intel-rapl:1", 2), ("intel-rapl:2", 3), ("intel-rapl:3", 4)] as [(String, UInt64)] {
            try f.set(z, v * 1_000_000)
        }
        XCTAssertEqual(try m.stop().joules, 10.0, accuracy: 1e-12)
    }

    func testPermissionDeniedSaysHowToGrantAccess() throws {
        let f = try PowercapFixture.twoSockets()
        let m = RAPLMeter(root: f.root, reader: DenyingReader(deniedSuffix: "energy_uj"))
        let reason = try XCTUnwrap(m.unavailableReason)
        XCTAssertTrue(reason.contains("permission denied"), reason)
        XCTAssertTrue(reason.contains("intel-rapl:0/energy_uj"), reason)
        XCTAssertTrue(reason.contains("sudo chmod o+r /sys/class/powercap/intel-rapl:*/energy_uj"), reason)
        XCTAssertTrue(reason.contains("udev"), reason)
        XCTAssertThrowsError(try m.start()) { e in
            guard case EnergyError.meterUnavailable(let meter, _) = e else { return XCTFail("\(e)") }
            XCTAssertEqual(meter, "rapl")
        }
    }

    func testChmodZeroWhenNotRoot() throws {
        if geteuid() == 0 { throw XCTSkip("running as root: chmod 000 does not stop root's reads (DenyingReader covers this)") }
        let f = try PowercapFixture.twoSockets()
        chmod(f.root + "/intel-rapl:1/energy_uj", 0)
        XCTAssertTrue(RAPLMeter(root: f.root).unavailableReason?.contains("permission denied") ?? false)
    }

    func testUnreadableCounterThatIsADirectory() throws {
        // Works as root too: read(2) on a directory fails with EISDIR.
        let f = try PowercapFixture()
        try f.zone("intel-rapl:0", name: "package-0", energy: nil)
        try FileManager.default.createDirectory(atPath: f.root + "/intel-rapl:0/energy_uj", withIntermediateDirectories: true)
        let reason = try XCTUnwrap(RAPLMeter(root: f.root).unavailableReason)
        XCTAssertTrue(reason.contains("cannot read") && reason.contains("intel-rapl:0/energy_uj"), reason)
    }

    func testMissingFiles() throws {
        let none = RAPLMeter(root: "/nonexistent-frugal-powercap")
        XCTAssertTrue(none.unavailableReason?.hasPrefix("no /nonexistent-frugal-powercap") ?? false, "\(String(describing: none.unavailableReason))")

        let empty = try PowercapFixture()
        XCTAssertTrue(RAPLMeter(root: empty.root).unavailableReason?.contains("no RAPL zones") ?? false)

        let noCounter = try PowercapFixture()
        try noCounter.zone("intel-rapl:0", name: "package-0", energy: nil)
        XCTAssertTrue(RAPLMeter(root: noCounter.root).unavailableReason?.contains("No such file") ?? false)

        // No max_energy_range_uj: a counter that goes down cannot be unwrapped, and says so.
        let noRange = try PowercapFixture()
        try noRange.zone("intel-rapl:0", name: "package-0", energy: 5_000, maxRange: nil)
        let m = RAPLMeter(root: noRange.root)
        try m.start()
        try noRange.set("intel-rapl:0", 10)
        XCTAssertThrowsError(try m.stop()) { e in
            guard case EnergyError.badFile(let path, let reason) = e else { return XCTFail("\(e)") }
            XCTAssertTrue(path.hasSuffix("intel-rapl:0/energy_uj"))
            XCTAssertTrue(reason.contains("max_energy_range_uj"), reason)
        }
    }

    func testGarbageCounterAndStopWithoutStart() throws {
        let f = try PowercapFixture()
        try f.zone("intel-rapl:0", name: "package-0", energy: 0)
        let m = RAPLMeter(root: f.root)
        XCTAssertThrowsError(try m.stop()) { XCTAssertEqual($0 as? EnergyError, .notStarted(meter: "rapl")) }
        try m.start()
        try "n/a\n".write(toFile: f.root + "/intel-rapl:0/energy_uj", atomically: true, encoding: .utf8)
        XCTAssertThrowsError(try m.stop()) { e in
            guard case EnergyError.badFile(_, let reason) = e else { return XCTFail("\(e)") }
            XCTAssertTrue(reason.contains("microjoules"), reason)
        }
    }
}
