import Foundation

/// The CPU this process runs on, as /proc/cpuinfo describes it.
public struct ProcessorDescription: Sendable, Hashable {
    /// "model name" of the first processor, e.g. "Intel(R) Xeon(R) Platinum 8380 CPU @ 2.30GHz".
    public var modelName: String
    /// "vendor_id": "GenuineIntel", "AuthenticAMD", or "" when absent (ARM).
    public var vendor: String
    /// CPUID family and model numbers, when listed.
    public var family: Int?
    public var model: Int?
    /// Physical cores (distinct physical id/core id pairs), at least 1.
    public var physicalCores: Int
    /// Logical CPUs ("processor" entries), at least 1.
    public var logicalCPUs: Int

    public init(modelName: String, vendor: String = "", family: Int? = nil, model: Int? = nil,
                physicalCores: Int, logicalCPUs: Int) {
        self.modelName = modelName
        self.vendor = vendor
        self.family = family
        self.model = model
        self.physicalCores = max(1, physicalCores)
        self.logicalCPUs = max(1, logicalCPUs)
    }

    /// Parses the text of /proc/cpuinfo.
    public static func parse(cpuinfo text: String) -> ProcessorDescription {
        var modelName = "", vendor = ""
        var family: Int?, model: Int?
        var logical = 0
        var cores = Set<String>()
        var physicalID = "0"
        for line in text.split(separator: "\n", omittingEmptySubsequences: false) {
            guard let colon = line.firstIndex(of: ":") else { continue }
            let key = line[..<colon].trimmingCharacters(in: .whitespaces)
            let value = line[line.index(after: colon)...].trimmingCharacters(in: .whitespaces)
            switch key {
            case "processor": logical += 1
            case "model name", "Model": if modelName.isEmpty { modelName = value }
            case "vendor_id" where vendor.isEmpty: vendor = value
            case "cpu family" where family == nil: family = Int(value)
            case "model" where model == nil: model = Int(value)
            case "physical id": physicalID = value
            case "core id": cores.insert(physicalID + "/" + value)
            default: break
            }
        }
        return ProcessorDescription(
            modelName: modelName.isEmpty ? "unknown CPU" : modelName, vendor: vendor, family: family, model: model,
            physicalCores: cores.isEmpty ? max(logical, 1) : cores.count,
            logicalCPUs: max(logical, 1))
    }

    /// This machine: /proc/cpuinfo on Linux, sysctl on macOS, the processor count elsewhere.
    public static func current(cpuinfoPath: String = "/proc/cpuinfo",
                               reader: TextFileReading = SystemFileReader()) -> ProcessorDescription {
        if case .success(let text) = reader.read(cpuinfoPath) {
            var d = parse(cpuinfo: text)
            if d.logicalCPUs <= 1 { d.logicalCPUs = max(1, ProcessInfo.processInfo.activeProcessorCount) }
            return d
        }
        #if os(macOS)
        func sysctlString(_ name: String) -> String? {
            var size = 0
            guard sysctlbyname(name, nil, &size, nil, 0) == 0, size > 0 else { return nil }
            var buf = [CChar](repeating: 0, count: size)
            guard sysctlbyname(name, &buf, &size, nil, 0) == 0 else { return nil }
            return String(cString: buf)
        }
        func sysctlInt(_ name: String) -> Int? {
            var v: Int32 = 0
            var size = MemoryLayout<Int32>.size
            return sysctlbyname(name, &v, &size, nil, 0) == 0 ? Int(v) : nil
        }
        return ProcessorDescription(
            modelName: sysctlString("machdep.cpu.brand_string") ?? "unknown CPU",
            physicalCores: sysctlInt("hw.physicalcpu") ?? ProcessInfo.processInfo.activeProcessorCount,
            logicalCPUs: ProcessInfo.processInfo.activeProcessorCount)
        #else
        let n = ProcessInfo.processInfo.activeProcessorCount
        return ProcessorDescription(modelName: "unknown CPU", physicalCores: n, logicalCPUs: n)
        #endif
    }
}
