import Foundation
import XCTest
@testable import FrugalEnergy

/// A small RFC 4180 reader for checking what the writer produced.
func parseCSV(_ text: String) -> [[String]] {
    var rows: [[String]] = [], row: [String] = [], field = ""
    var inQuotes = false
    var chars = Array(text)[...]
    while let c = chars.popFirst() {
        if inQuotes {
            if c == "\"" {
                if chars.first == "\"" { field.append("\""); chars.removeFirst() } else { inQuotes = false }
            } else { field.append(c) }
        } else if c == "\"" { inQuotes = true } else if c == "," { row.append(field); field = "" } else if c == "\n" {
            row.append(field); rows.append(row); row = []; field = ""
        } else { field.append(c) }
    }
    if !field.isEmpty || !row.isEmpty { row.append(field); rows.append(row) }
    return rows
}

final class EmissionsCSVTests: XCTestCase {
    /// CodeCarbon's EmissionsData fields, in order (codecarbon/output_methods/emissions_data.py, 2.x).
    let codecarbonHeader = "timestamp,project_name,run_id,experiment_id,duration,emissions,emissions_rate,cpu_power,gpu_power,ram_power,cpu_energy,gpu_energy,ram_energy,energy_consumed,country_name,country_iso_code,region,cloud_provider,cloud_region,os,python_version,codecarbon_version,cpu_count,cpu_model,gpu_count,gpu_model,longitude,latitude,ram_total_size,tracking_mode,on_cloud,pue"

    func record(cpuModel: String = "Intel(R) Xeon(R) Platinum 8380 CPU @ 2.30GHz") throws -> EmissionsRecord {
        let factors = try CarbonFactors(intensity: GridIntensityTable.lookup("FR"), pue: 1.5)
        return EmissionsRecord(
            timestamp: Date(timeIntervalSince1970: 1_700_000_000), projectName: "demo", runID: "run-1", experimentID: "exp",
            durationSeconds: 3600, cpuJoules: 2.7e6, gpuJoules: 0, ramJoules: 0.9e6, factors: factors,
            country: GridIntensityTable.region("FR"),
            cpu: ProcessorDescription(modelName: cpuModel, physicalCores: 4, logicalCPUs: 8), gpuCount: nil,
            trackingMode: "machine", os: "Linux-6.1.0-x86_64", ramTotalSizeGB: 16)
    }

    func testHeaderIsCodeCarbons() {
        XCTAssertEqual(EmissionsCSV.header, codecarbonHeader)
        XCTAssertEqual(EmissionsCSV.columns.count, 32)
    }

    func testQuoting() {
        XCTAssertEqual(EmissionsCSV.quote("plain"), "plain")
        XCTAssertEqual(EmissionsCSV.quote("a,b"), "\"a,b\"")
        XCTAssertEqual(EmissionsCSV.quote("say \"hi\""), "\"say \"\"hi\"\"\"")
        XCTAssertEqual(EmissionsCSV.quote("two\nlines"), "\"two\nlines\"")
    }

    func testRowValuesAndUnits() throws {
        let line = EmissionsCSV.row(try record(cpuModel: "Vendor \"X\", rev 2"), timeZone: TimeZone(identifier: "UTC")!)
        let fields = try XCTUnwrap(parseCSV(line + "\n").first)
        XCTAssertEqual(fields.count, 32)
        let v = Dictionary(uniqueKeysWithValues: zip(EmissionsCSV.columns, fields))
        XCTAssertEqual(v["timestamp"], "2023-11-14T22:13:20")
        XCTAssertEqual(v["cpu_model"], "Vendor \"X\", rev 2")
        // 3.6 MJ = 1 kWh; 67 g/kWh x PUE 1.5 = 100.5 g = 0.1005 kg over one hour.
        XCTAssertEqual(Double(v["energy_consumed"]!)!, 1.0, accuracy: 1e-12)
        XCTAssertEqual(Double(v["cpu_energy"]!)!, 0.75, accuracy: 1e-12)
        XCTAssertEqual(Double(v["ram_energy"]!)!, 0.25, accuracy: 1e-12)
        XCTAssertEqual(Double(v["emissions"]!)!, 0.1005, accuracy: 1e-12)
        XCTAssertEqual(Double(v["emissions_rate"]!)!, 0.1005 / 3600, accuracy: 1e-15)
        XCTAssertEqual(Double(v["cpu_power"]!)!, 750, accuracy: 1e-9)
        XCTAssertEqual(Double(v["ram_power"]!)!, 250, accuracy: 1e-9)
        XCTAssertEqual(v["country_name"], "France")
        XCTAssertEqual(v["country_iso_code"], "FRA")
        XCTAssertEqual(v["cpu_count"], "8")
        XCTAssertEqual(v["gpu_count"], "")
        XCTAssertEqual(v["tracking_mode"], "machine")
        XCTAssertEqual(v["on_cloud"], "N")
        XCTAssertEqual(v["pue"], "1.5")
        XCTAssertEqual(v["duration"], "3600.0")
    }

    func testAppendCreatesThenAppendsAndRefusesOtherHeaders() throws {
        let dir = NSTemporaryDirectory() + "frugal-csv-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let path = dir + "/emissions.csv"
        try EmissionsCSV.append(try record(), to: path)
        try EmissionsCSV.append(try record(cpuModel: "with, comma"), to: path)
        var rows = parseCSV(try String(contentsOfFile: path, encoding: .utf8))
        XCTAssertEqual(rows.count, 3)
        XCTAssertEqual(rows[0].joined(separator: ","), codecarbonHeader)
        XCTAssertEqual(rows[2][23], "with, comma")
        XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: dir), ["emissions.csv"])  // no temp file left

        // A last line without its newline is completed before the next row.
        let handle = try XCTUnwrap(FileHandle(forWritingAtPath: path))
        handle.truncateFile(atOffset: handle.seekToEndOfFile() - 1)
        handle.closeFile()
        try EmissionsCSV.append(try record(), to: path)
        rows = parseCSV(try String(contentsOfFile: path, encoding: .utf8))
        XCTAssertEqual(rows.count, 4)
        XCTAssertTrue(rows.allSatisfy { $0.count == 32 })

        let other = dir + "/other.csv"
        try "timestamp,project_name,run_id,duration,emissions\n1,2,3,4,5\n".write(toFile: other, atomically: true, encoding: .utf8)
        XCTAssertThrowsError(try EmissionsCSV.append(try record(), to: other)) { e in
            guard case EnergyError.badFile(let p, let reason) = e else { return XCTFail("\(e)") }
            XCTAssertEqual(p, other)
            XCTAssertTrue(reason.contains("5 columns") && reason.contains("--output-dir"), reason)
        }
        XCTAssertEqual(try String(contentsOfFile: other, encoding: .utf8), "timestamp,project_name,run_id,duration,emissions\n1,2,3,4,5\n")

        let empty = dir + "/empty.csv"
        FileManager.default.createFile(atPath: empty, contents: Data())
        try EmissionsCSV.append(try record(), to: empty)
        XCTAssertEqual(parseCSV(try String(contentsOfFile: empty, encoding: .utf8)).count, 2)
    }

    func testPythonCSVReadsTheFile() throws {
        guard FileManager.default.isExecutableFile(atPath: "/usr/bin/python3") else { throw XCTSkip("no /usr/bin/python3") }
        let dir = NSTemporaryDirectory() + "frugal-csv-py-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let path = dir + "/emissions.csv"
        try EmissionsCSV.append(try record(cpuModel: "odd \"model\", name"), to: path)
        let p = Process()
        p.executableURL = URL(fileURLWithPath: "/usr/bin/python3")
        p.arguments = ["-c", "import csv,sys; r=list(csv.DictReader(open(sys.argv[1]))); print(len(r), len(r[0]), r[0]['cpu_model'], r[0]['energy_consumed'])", path]
        let out = Pipe()
        p.standardOutput = out
        try p.run()
        p.waitUntilExit()
        let text = String(decoding: out.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        XCTAssertEqual(text, "1 32 odd \"model\", name 1.0\n")
    }
}
