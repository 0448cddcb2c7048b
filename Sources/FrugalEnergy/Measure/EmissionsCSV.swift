#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import Foundation

/// One row of `emissions.csv`, in CodeCarbon's units: seconds, kg CO2e, kg/s, W, kWh, GB.
public struct EmissionsRecord: Sendable, Hashable {
    public var timestamp: Date
    public var projectName: String
    public var runID: String
    public var experimentID: String
    public var durationSeconds: Double
    public var emissionsKg: Double
    public var emissionsRateKgPerSecond: Double
    public var cpuPowerWatts: Double
    public var gpuPowerWatts: Double
    public var ramPowerWatts: Double
    public var cpuEnergyKWh: Double
    public var gpuEnergyKWh: Double
    public var ramEnergyKWh: Double
    public var energyConsumedKWh: Double
    public var countryName: String
    public var countryISOCode: String
    public var region: String
    public var cloudProvider: String
    public var cloudRegion: String
    public var os: String
    public var pythonVersion: String
    public var codecarbonVersion: String
    public var cpuCount: Int
    public var cpuModel: String
    public var gpuCount: Int?
    public var gpuModel: String
    public var longitude: Double?
    public var latitude: Double?
    public var ramTotalSizeGB: Double
    /// "machine" (a counter that sees the whole machine) or "process" (this run's CPU time).
    public var trackingMode: String
    public var onCloud: String
    public var pue: Double

    /// Builds a row from energies in joules; power columns are the averages over the duration.
    public init(timestamp: Date, projectName: String, runID: String = UUID().uuidString.lowercased(), experimentID: String = "",
                durationSeconds: Double, cpuJoules: Double, gpuJoules: Double, ramJoules: Double, factors: CarbonFactors,
                country: GridRegion?, cpu: ProcessorDescription, gpuCount: Int?, trackingMode: String,
                os: String = EmissionsRecord.platformString(),
                ramTotalSizeGB: Double = Double(ProcessInfo.processInfo.physicalMemory) / 1_073_741_824) {
        self.timestamp = timestamp
        self.projectName = projectName
        self.runID = runID
        self.experimentID = experimentID
        self.durationSeconds = durationSeconds
        let joules = cpuJoules + gpuJoules + ramJoules
        emissionsKg = factors.grams(joules: joules) / 1000
        emissionsRateKgPerSecond = durationSeconds > 0 ? emissionsKg / durationSeconds : 0
        func watts(_ j: Double) -> Double { durationSeconds > 0 ? j / durationSeconds : 0 }
        cpuPowerWatts = watts(cpuJoules)
        gpuPowerWatts = watts(gpuJoules)
        ramPowerWatts = watts(ramJoules)
        cpuEnergyKWh = cpuJoules / 3.6e6
        gpuEnergyKWh = gpuJoules / 3.6e6
        ramEnergyKWh = ramJoules / 3.6e6
        energyConsumedKWh = joules / 3.6e6
        if let country, country.code != "world" {
            countryName = country.name
            countryISOCode = country.alpha3
        } else {
            countryName = ""
            countryISOCode = ""
        }
        region = ""
        cloudProvider = ""
        cloudRegion = ""
        self.os = os
        pythonVersion = ""
        codecarbonVersion = ""
        cpuCount = cpu.logicalCPUs
        cpuModel = cpu.modelName
        self.gpuCount = gpuCount
        gpuModel = ""
        longitude = nil
        latitude = nil
        self.ramTotalSizeGB = ramTotalSizeGB
        self.trackingMode = trackingMode
        onCloud = "N"
        pue = factors.pue
    }

    /// "Linux-6.1.0-x86_64", in the spirit of Python's platform.platform().
    public static func platformString() -> String {
        var u = utsname()
        guard uname(&u) == 0 else { return "" }
        func field<T>(_ value: T) -> String {
            withUnsafeBytes(of: value) { raw in
                String(decoding: raw.prefix(while: { $0 != 0 }), as: UTF8.self)
            }
        }
        return "\(field(u.sysname))-\(field(u.release))-\(field(u.machine))"
    }
}

/// Writes `emissions.csv` with CodeCarbon's columns in CodeCarbon's order (its `EmissionsData`,
/// versions 2.x), so that dashboards and scripts written for CodeCarbon read Frugal's rows.
public enum EmissionsCSV {
    public static let columns = [
        "timestamp", "project_name", "run_id", "experiment_id", "duration", "emissions", "emissions_rate",
        "cpu_power", "gpu_power", "ram_power", "cpu_energy", "gpu_energy", "ram_energy", "energy_consumed",
        "country_name", "country_iso_code", "region", "cloud_provider", "cloud_region", "os", "python_version",
        "codecarbon_version", "cpu_count", "cpu_model", "gpu_count", "gpu_model", "longitude", "latitude",
        "ram_total_size", "tracking_mode", "on_cloud", "pue",
    ]

    public static var header: String { columns.joined(separator: ",") }

    /// RFC 4180 quoting, as Python's csv module does by default: a field with a comma, quote or
    /// line break is wrapped in quotes and its quotes doubled.
    public static func quote(_ field: String) -> String {
        guard field.contains(where: { $0 == "," || $0 == "\"" || $0 == "\n" || $0 == "\r" }) else { return field }
        return "\"" + field.replacingOccurrences(of: "\"", with: "\"\"") + "\""
    }

    /// Shortest text that reads back to the same double ("0.1", "1e-05"); empty for NaN/infinity.
    static func number(_ x: Double?) -> String {
        guard let x, x.isFinite else { return "" }
        return "\(x)"
    }

    /// Local time without zone, CodeCarbon's "%Y-%m-%dT%H:%M:%S".
    static func timestamp(_ date: Date, timeZone: TimeZone) -> String {
        let f = DateFormatter()
        f.locale = Locale(identifier: "en_US_POSIX")
        f.timeZone = timeZone
        f.dateFormat = "yyyy-MM-dd'T'HH:mm:ss"
        return f.string(from: date)
    }

    public static func row(_ r: EmissionsRecord, timeZone: TimeZone = .current) -> String {
        let fields: [String] = [
            timestamp(r.timestamp, timeZone: timeZone), r.projectName, r.runID, r.experimentID,
            number(r.durationSeconds), number(r.emissionsKg), number(r.emissionsRateKgPerSecond),
            number(r.cpuPowerWatts), number(r.gpuPowerWatts), number(r.ramPowerWatts),
            number(r.cpuEnergyKWh), number(r.gpuEnergyKWh), number(r.ramEnergyKWh), number(r.energyConsumedKWh),
            r.countryName, r.countryISOCode, r.region, r.cloudProvider, r.cloudRegion, r.os, r.pythonVersion,
            r.codecarbonVersion, String(r.cpuCount), r.cpuModel, r.gpuCount.map(String.init) ?? "", r.gpuModel,
            number(r.longitude), number(r.latitude), number(r.ramTotalSizeGB), r.trackingMode, r.onCloud, number(r.pue),
        ]
        return fields.map(quote).joined(separator: ",")
    }

    /// Appends `record` to the CSV at `path`. A new file gets the header and is written to a
    /// temporary file first, then linked into place; an existing file must have exactly this
    /// header and gets the row with one append-mode write (whole line, so concurrent writers
    /// do not interleave within a line).
    public static func append(_ record: EmissionsRecord, to path: String, timeZone: TimeZone = .current) throws {
        let line = row(record, timeZone: timeZone) + "\n"
        if !FileManager.default.fileExists(atPath: path) {
            let tmp = path + ".tmp-\(getpid())-\(UInt32.random(in: 0...UInt32.max))"
            do {
                try Data((header + "\n" + line).utf8).write(to: URL(fileURLWithPath: tmp))
            } catch {
                throw EnergyError.badFile(path: path, reason: "cannot create it: \(error.localizedDescription)")
            }
            defer { unlink(tmp) }
            if link(tmp, path) == 0 { return }
            if errno != EEXIST {
                // Filesystems without hard links: rename is still atomic, at the risk of
                // replacing a file another writer created a moment ago.
                if rename(tmp, path) == 0 { return }
                throw EnergyError.badFile(path: path, reason: "cannot create it: \(String(cString: strerror(errno)))")
            }
        }
        let existingSize = (try? FileManager.default.attributesOfItem(atPath: path)[.size] as? NSNumber)?.intValue ?? 0
        var prefix = ""
        if existingSize == 0 {
            prefix = header + "\n"  // an empty file (touched by a script): give it the header
        } else {
            try checkHeader(path)
        }
        if let h = FileHandle(forReadingAtPath: path) {
            let size = h.seekToEndOfFile()
            if size > 0 && prefix.isEmpty {
                h.seek(toFileOffset: size - 1)
                if h.readData(ofLength: 1) != Data([0x0A]) { prefix = "\n" }
            }
            h.closeFile()
        }
        let bytes = Array((prefix + line).utf8)
        let fd = open(path, O_WRONLY | O_APPEND)
        guard fd >= 0 else { throw EnergyError.badFile(path: path, reason: "cannot open for appending: \(String(cString: strerror(errno)))") }
        defer { close(fd) }
        let written = bytes.withUnsafeBytes { write(fd, $0.baseAddress, $0.count) }
        guard written == bytes.count else {
            throw EnergyError.badFile(path: path, reason: "short write (\(written) of \(bytes.count) bytes): \(String(cString: strerror(errno)))")
        }
    }

    /// Refuses a file whose first line is not this header (another tool's or an older
    /// CodeCarbon's columns), so rows never land under the wrong names.
    static func checkHeader(_ path: String) throws {
        guard let h = FileHandle(forReadingAtPath: path) else {
            throw EnergyError.badFile(path: path, reason: "cannot read it to check its header")
        }
        let head = h.readData(ofLength: 4096)
        h.closeFile()
        let text = String(decoding: head, as: UTF8.self)
        let first = text.split(separator: "\n", maxSplits: 1, omittingEmptySubsequences: false).first.map(String.init) ?? ""
        let found = first.hasSuffix("\r") ? String(first.dropLast()) : first
        guard found == header else {
            let n = found.isEmpty ? 0 : found.split(separator: ",", omittingEmptySubsequences: false).count
            throw EnergyError.badFile(
                path: path,
                reason: "its header (\(n) columns, starting '\(found.prefix(60))') is not the \(columns.count) CodeCarbon columns Frugal writes; "
                    + "move the file aside or pass --output-dir to write a new one")
        }
    }
}
