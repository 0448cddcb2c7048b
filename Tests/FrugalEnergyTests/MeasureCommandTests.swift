import Foundation
import XCTest
@testable import FrugalEnergy

final class MeasureCommandTests: XCTestCase {
    func estimateSet(tdp: Double = 40) throws -> (EnergyMeterSet, CPUTimeEstimateMeter) {
        let power = try CPUPowerEstimate.resolve(cpu: ProcessorDescription.current(), userTDP: tdp)
        let meter = CPUTimeEstimateMeter(power: power, scope: .children)
        return (EnergyMeterSet(meters: [meter], unavailable: []), meter)
    }

    func testRunsACommandAndReportsItsStatus() throws {
        let (set, _) = try estimateSet()
        let r = try CommandRunner.run(["/bin/sleep", "0.2"], meters: set)
        XCTAssertEqual(r.exitStatus, 0)
        XCTAssertNil(r.signal)
        XCTAssertGreaterThanOrEqual(r.wallSeconds, 0.2)
        XCTAssertEqual(r.measurement.total.kind, .estimated)
        XCTAssertLessThan(r.measurement.total.joules, 0.2 * 40)  // sleep burns almost no CPU

        XCTAssertEqual(try CommandRunner.run(["sh", "-c", "exit 3"], meters: try estimateSet().0).exitStatus, 3)
        let killed = try CommandRunner.run(["sh", "-c", "kill -TERM $$"], meters: try estimateSet().0)
        XCTAssertEqual(killed.signal, SIGTERM)
        XCTAssertEqual(killed.exitStatus, 128 + SIGTERM)
    }

    func testEstimateUsesTheChildsCPUTime() throws {
        let (set, meter) = try estimateSet(tdp: 40)
        let r = try CommandRunner.run(["sh", "-c", "i=0; while [ $i -lt 300000 ]; do i=$((i+1)); done"], meters: set)
        XCTAssertEqual(r.exitStatus, 0)
        XCTAssertGreaterThan(meter.lastCPUSeconds, 0.05)
        XCTAssertLessThanOrEqual(meter.lastCPUSeconds, r.wallSeconds * Double(ProcessInfo.processInfo.activeProcessorCount) + 0.05)
        XCTAssertEqual(r.measurement.total.joules, meter.lastCPUSeconds * meter.power.wattsPerCore, accuracy: 1e-9)
    }

    func testMissingCommand() throws {
        XCTAssertThrowsError(try CommandRunner.run(["frugal-no-such-command-xyz"], meters: try estimateSet().0)) { e in
            XCTAssertTrue("\(e)".contains("not found on PATH"), "\(e)")
        }
        XCTAssertThrowsError(try CommandRunner.run([], meters: try estimateSet().0))
    }

    func testBestOnThisMachineNamesUnavailableMeters() throws {
        let set = try EnergyMeters.best(powercapRoot: "/nonexistent-powercap", nvmlLibrary: "libfrugal-absent.so")
        XCTAssertEqual(set.meters.map(\.name), ["tdp-estimate"])
        XCTAssertEqual(set.unavailable.map(\.name), ["RAPL", "NVML"])
        XCTAssertTrue(set.unavailable[0].reason.hasPrefix("no /nonexistent-powercap"))

        let f = try PowercapFixture.twoSockets()
        let withRAPL = try EnergyMeters.best(powercapRoot: f.root, nvmlLibrary: "libfrugal-absent.so")
        XCTAssertEqual(withRAPL.meters.map(\.name), ["rapl"])
    }

    func testSumNeverHidesAMixOfKinds() {
        let a = EnergyReading(joules: 2, kind: .measured, source: "rapl:package-0")
        let b = EnergyReading(joules: 3, kind: .estimated, source: "tdp-estimate(default):x")
        let mixed = EnergyMeters.sum([a, b])
        XCTAssertEqual(mixed.joules, 5)
        XCTAssertEqual(mixed.kind, .estimated)
        XCTAssertEqual(mixed.source, "mixed: rapl:package-0 [measured] + tdp-estimate(default):x [estimated]")
        let both = EnergyMeters.sum([a, EnergyReading(joules: 1, kind: .measured, source: "nvml:gpu0")])
        XCTAssertEqual(both.kind, .measured)
        XCTAssertEqual(both.source, "rapl:package-0 + nvml:gpu0")
    }

    /// The built CLI end to end: `frugal measure --json -- sh -c ...`.
    func testCLIEndToEnd() throws {
        let repo = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        let binary = repo.appendingPathComponent(".build/release/frugal").path
        guard FileManager.default.isExecutableFile(atPath: binary) else { throw XCTSkip("no \(binary); run swift build -c release first") }
        func frugal(_ args: [String]) throws -> (Int32, String, String) {
            let p = Process()
            p.executableURL = URL(fileURLWithPath: binary)
            p.arguments = args
            let out = Pipe(), err = Pipe()
            p.standardOutput = out
            p.standardError = err
            try p.run()
            let o = out.fileHandleForReading.readDataToEndOfFile()
            let e = err.fileHandleForReading.readDataToEndOfFile()
            p.waitUntilExit()
            return (p.terminationStatus, String(decoding: o, as: UTF8.self), String(decoding: e, as: UTF8.self))
        }
        guard try frugal(["measure", "--help"]).0 == 0 else { throw XCTSkip("\(binary) predates `measure`; rebuild it") }
        let dir = NSTemporaryDirectory() + "frugal-measure-\(UUID().uuidString)"
        defer { try? FileManager.default.removeItem(atPath: dir) }

        let (status, out, err) = try frugal(["measure", "--json", "--region", "SE", "--output-dir", dir, "--",
                                             "sh", "-c", "echo from-child; exit 0"])
        XCTAssertEqual(status, 0, err)
        XCTAssertTrue(err.contains("from-child"), "the child's stdout goes to stderr under --json")
        let obj = try XCTUnwrap(try JSONSerialization.jsonObject(with: Data(out.utf8)) as? [String: Any], out)
        XCTAssertEqual(obj["exit_status"] as? Int, 0)
        XCTAssertEqual(obj["command"] as? [String], ["sh", "-c", "echo from-child; exit 0"])
        let energy = try XCTUnwrap(obj["energy"] as? [String: Any])
        XCTAssertNotNil(energy["joules"] as? Double)
        XCTAssertTrue(["measured", "estimated"].contains(energy["kind"] as? String ?? ""))
        let carbon = try XCTUnwrap(obj["carbon"] as? [String: Any])
        XCTAssertEqual(carbon["region"] as? String, "SE")
        XCTAssertEqual(carbon["grams"] as? Double ?? -1, (energy["joules"] as? Double ?? 0) / 3.6e6 * 46, accuracy: 1e-12)
        let csv = parseCSV(try String(contentsOfFile: dir + "/emissions.csv", encoding: .utf8))
        XCTAssertEqual(csv.count, 2)
        XCTAssertEqual(csv[1][15], "SWE")

        let (failing, _, _) = try frugal(["measure", "--output-dir", dir, "--", "sh", "-c", "exit 5"])
        XCTAssertEqual(failing, 5)
        XCTAssertEqual(parseCSV(try String(contentsOfFile: dir + "/emissions.csv", encoding: .utf8)).count, 3)

        // RAPL path, on a synthetic powercap tree whose counters the command itself advances.
        let f = try PowercapFixture.twoSockets()
        let bump = "echo 4000000 > '\(f.root)/intel-rapl:0/energy_uj'; echo 2500000 > '\(f.root)/intel-rapl:0:0/energy_uj'; "
            + "echo 1300000 > '\(f.root)/intel-rapl:0:2/energy_uj'"
        let (raplStatus, raplOut, raplErr) = try frugal(["measure", "--json", "--powercap-root", f.root, "--output-dir", dir,
                                                         "--", "sh", "-c", bump])
        XCTAssertEqual(raplStatus, 0, raplErr)
        let rapl = try XCTUnwrap(try JSONSerialization.jsonObject(with: Data(raplOut.utf8)) as? [String: Any], raplOut)
        let raplEnergy = try XCTUnwrap(rapl["energy"] as? [String: Any])
        XCTAssertEqual(raplEnergy["kind"] as? String, "measured")
        // package-0 moved 3 J and its dram 1 J; its core's 2 J are inside the package.
        XCTAssertEqual(raplEnergy["joules"] as? Double ?? -1, 4.0, accuracy: 1e-9)
        let domains = try XCTUnwrap(((rapl["readings"] as? [[String: Any]])?.first)?["domains"] as? [[String: Any]])
        XCTAssertEqual(domains.count, 7)
        let rows = parseCSV(try String(contentsOfFile: dir + "/emissions.csv", encoding: .utf8))
        let last = Dictionary(uniqueKeysWithValues: zip(EmissionsCSV.columns, rows[rows.count - 1]))
        XCTAssertEqual(last["tracking_mode"], "machine")
        XCTAssertEqual(Double(last["cpu_energy"] ?? "") ?? -1, 3.0 / 3.6e6, accuracy: 1e-15)
        XCTAssertEqual(Double(last["ram_energy"] ?? "") ?? -1, 1.0 / 3.6e6, accuracy: 1e-15)

        // SIGTERM to frugal goes to the command; the interrupted run is still reported and logged.
        let p = Process()
        p.executableURL = URL(fileURLWithPath: binary)
        p.arguments = ["measure", "--output-dir", dir, "--", "sleep", "30"]
        p.standardError = Pipe()
        let t0 = Date()
        try p.run()
        Thread.sleep(forTimeInterval: 1.0)
        p.terminate()
        p.waitUntilExit()
        XCTAssertEqual(p.terminationReason, .exit)
        XCTAssertEqual(p.terminationStatus, 128 + SIGTERM)
        XCTAssertLessThan(Date().timeIntervalSince(t0), 20)
        XCTAssertEqual(parseCSV(try String(contentsOfFile: dir + "/emissions.csv", encoding: .utf8)).count, 5)
    }
}
