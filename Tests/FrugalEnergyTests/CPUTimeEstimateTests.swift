import Foundation
import XCTest
@testable import FrugalEnergy

final class CPUTimeEstimateTests: XCTestCase {
    func testParsesCpuinfo() {
        // Two sockets x two cores x two threads.
        var text = ""
        var n = 0
        for socket in 0..<2 {
            for core in 0..<2 {
                for _ in 0..<2 {
                    text += """
                        processor\t: \(n)
                        vendor_id\t: GenuineIntel
                        cpu family\t: 6
                        model\t\t: 106
                        model name\t: Intel(R) Xeon(R) Platinum 8380 CPU @ 2.30GHz
                        physical id\t: \(socket)
                        core id\t\t: \(core)

                        """
                    n += 1
                }
            }
        }
        let d = ProcessorDescription.parse(cpuinfo: text)
        XCTAssertEqual(d.modelName, "Intel(R) Xeon(R) Platinum 8380 CPU @ 2.30GHz")
        XCTAssertEqual(d.physicalCores, 4)
        XCTAssertEqual(d.logicalCPUs, 8)
        XCTAssertEqual(d.vendor, "GenuineIntel")
        XCTAssertEqual(d.family, 6)
        XCTAssertEqual(d.model, 106)
    }

    func testTableLookupByModelName() {
        let cases: [(String, String?)] = [
            ("Intel(R) Xeon(R) Platinum 8380 CPU @ 2.30GHz", "xeon platinum 8380"),
            ("Intel(R) Xeon(R) CPU E5-2690 v4 @ 2.60GHz", "xeon e5-2690 v4"),
            ("Intel(R) Xeon(R) Platinum 8480+", "xeon platinum 8480+"),
            ("13th Gen Intel(R) Core(TM) i9-13900K", "core i9-13900k"),
            ("AMD EPYC 7763 64-Core Processor", "epyc 7763"),
            ("AMD Ryzen 9 5950X 16-Core Processor", "ryzen 9 5950x"),
            ("Apple M1", "apple m1"),
            ("Apple M1 Pro", nil),  // not the M1's power
            ("Intel(R) Xeon(R) Platinum 8380H CPU @ 2.90GHz", nil),  // a different part
            ("Intel(R) Xeon(R) Processor", nil),
        ]
        for (name, key) in cases {
            XCTAssertEqual(CPUPowerTable.lookup(modelName: name)?.key, key, name)
        }
        // Every row is usable and keys are unique.
        XCTAssertEqual(Set(CPUPowerTable.entries.map(\.key)).count, CPUPowerTable.entries.count)
        XCTAssertGreaterThanOrEqual(CPUPowerTable.entries.count, 24)
        for e in CPUPowerTable.entries {
            XCTAssertTrue(e.tdpWatts > 0 && e.cores > 0 && !e.source.isEmpty, e.key)
        }
        for f in CPUPowerTable.families { XCTAssertNotNil(CPUPowerTable.spec(key: f.key), f.key) }
    }

    func testResolveOrder() throws {
        let known = ProcessorDescription(modelName: "AMD EPYC 7763 64-Core Processor", vendor: "AuthenticAMD",
                                         family: 25, model: 1, physicalCores: 8, logicalCPUs: 16)
        let table = try CPUPowerEstimate.resolve(cpu: known)
        XCTAssertEqual(table.basis, .table)
        XCTAssertEqual(table.wattsPerCore, 280.0 / 64, accuracy: 1e-12)  // the chip's cores, not the VM's 8

        let user = try CPUPowerEstimate.resolve(cpu: known, userTDP: 100)
        XCTAssertEqual(user.basis, .user)
        XCTAssertEqual(user.wattsPerCore, 100.0 / 8, accuracy: 1e-12)

        let generic = ProcessorDescription(modelName: "Intel(R) Xeon(R) Processor", vendor: "GenuineIntel",
                                           family: 6, model: 207, physicalCores: 2, logicalCPUs: 2)
        let family = try CPUPowerEstimate.resolve(cpu: generic)
        XCTAssertEqual(family.basis, .family)
        XCTAssertEqual(family.wattsPerCore, 350.0 / 64, accuracy: 1e-12)
        XCTAssertTrue(family.description.contains("Emerald Rapids"), family.description)

        let unknown = ProcessorDescription(modelName: "Frobnicator 3000", physicalCores: 4, logicalCPUs: 4)
        let fallback = try CPUPowerEstimate.resolve(cpu: unknown)
        XCTAssertEqual(fallback.basis, .default)
        XCTAssertEqual(fallback.wattsPerCore, 85.0 / 4, accuracy: 1e-12)
        XCTAssertTrue(fallback.description.contains("default 85 W"), fallback.description)

        for bad in [0.0, -5, .nan, 1e6] {
            XCTAssertThrowsError(try CPUPowerEstimate.resolve(cpu: known, userTDP: bad))
        }
    }

    func testThisMachineResolves() throws {
        let cpu = ProcessorDescription.current()
        XCTAssertGreaterThanOrEqual(cpu.physicalCores, 1)
        XCTAssertFalse(cpu.modelName.isEmpty)
        let p = try CPUPowerEstimate.resolve(cpu: cpu)
        XCTAssertTrue(p.wattsPerCore > 0.5 && p.wattsPerCore <= 85, "\(p.wattsPerCore) W/core: \(p.description)")
        if cpu.vendor == "GenuineIntel", cpu.family == 6, cpu.model == 207, CPUPowerTable.lookup(modelName: cpu.modelName) == nil {
            // The development machine: a VM that hides the Xeon's model number.
            XCTAssertEqual(p.basis, .family)
        }
    }

    struct ScriptedClock: CPUTimeSource {
        let values: [Double]
        let index = Counter()
        final class Counter: @unchecked Sendable { var i = 0 }
        func cpuSeconds(_ scope: CPUTimeScope) -> Double {
            defer { index.i += 1 }
            return values[index.i]
        }
    }

    func testEnergyIsCPUTimeTimesPerCorePower() throws {
        let power = try CPUPowerEstimate.resolve(cpu: ProcessorDescription(modelName: "Frobnicator", physicalCores: 5, logicalCPUs: 5))
        let m = CPUTimeEstimateMeter(power: power, clock: ScriptedClock(values: [10.0, 12.5]))
        XCTAssertThrowsError(try m.stop())
        try m.start()
        let r = try m.stop()
        XCTAssertEqual(r.joules, 2.5 * 85 / 5, accuracy: 1e-12)
        XCTAssertEqual(r.kind, .estimated)
        XCTAssertTrue(r.source.hasPrefix("tdp-estimate(default)"), r.source)
    }

    func testRusageAgreesWithProcessClock() throws {
        func processClock() -> Double {
            var ts = timespec()
            clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts)
            return Double(ts.tv_sec) + Double(ts.tv_nsec) / 1e9
        }
        let power = try CPUPowerEstimate.resolve(cpu: ProcessorDescription.current(), userTDP: 40)
        let m = CPUTimeEstimateMeter(power: power, scope: .process)
        let c0 = processClock()
        try m.start()
        var x = 1.0
        let until = Date().addingTimeInterval(0.3)
        while Date() < until { for _ in 0..<10_000 { x = x * 1.000001 + 1e-9 } }
        let r = try m.stop()
        let c1 = processClock()
        XCTAssertTrue(x > 0)
        XCTAssertGreaterThan(m.lastCPUSeconds, 0.05)
        XCTAssertEqual(m.lastCPUSeconds, c1 - c0, accuracy: 0.03)
        XCTAssertEqual(r.joules, m.lastCPUSeconds * power.wattsPerCore, accuracy: 1e-9)
    }
}
