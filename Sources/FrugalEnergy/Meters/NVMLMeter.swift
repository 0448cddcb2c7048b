#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import Foundation

/// NVIDIA GPU energy from NVML's total-energy counter, loaded with dlopen so that Frugal neither
/// links against nor needs the NVIDIA driver.
///
/// `nvmlDeviceGetTotalEnergyConsumption` gives millijoules since the driver was loaded (Volta
/// and newer); the reading is the sum over all devices of the counter's change between start
/// and stop. Without the library the meter is unavailable, with the reason.
public final class NVMLMeter: EnergyMeter {
    public let name = "nvml"
    public let kind = EnergyKind.measured
    /// The library dlopen'ed ("libnvidia-ml.so.1"; a path in tests).
    public let library: String
    public private(set) var unavailableReason: String?
    /// GPUs seen at the last start.
    public private(set) var deviceCount = 0

    private typealias InitFn = @convention(c) () -> Int32
    private typealias CountFn = @convention(c) (UnsafeMutablePointer<UInt32>) -> Int32
    private typealias HandleFn = @convention(c) (UInt32, UnsafeMutablePointer<OpaquePointer?>) -> Int32
    private typealias EnergyFn = @convention(c) (OpaquePointer?, UnsafeMutablePointer<UInt64>) -> Int32
    private typealias ShutdownFn = @convention(c) () -> Int32
    private typealias ErrorStringFn = @convention(c) (Int32) -> UnsafePointer<CChar>?

    private struct API {
        var initialize: InitFn
        var count: CountFn
        var handle: HandleFn
        var energy: EnergyFn
        var shutdown: ShutdownFn
        var errorString: ErrorStringFn?
    }

    private var handle: UnsafeMutableRawPointer?
    private var api: API?
    private var devices: [OpaquePointer?] = []
    private var startMillijoules: [UInt64] = []
    private var startTime: Date?

    public init(library: String = "libnvidia-ml.so.1") {
        self.library = library
        guard let h = dlopen(library, RTLD_NOW | RTLD_LOCAL) else {
            unavailableReason = library == "libnvidia-ml.so.1"
                ? "libnvidia-ml.so.1 not found (no NVIDIA driver)"
                : "\(library) not found"
            return
        }
        handle = h
        func symbol(_ s: String) -> UnsafeMutableRawPointer? { dlsym(h, s) }
        let names = ["nvmlInit_v2", "nvmlDeviceGetCount_v2", "nvmlDeviceGetHandleByIndex_v2",
                     "nvmlDeviceGetTotalEnergyConsumption", "nvmlShutdown"]
        let found = names.map(symbol)
        if let missing = zip(names, found).first(where: { $0.1 == nil })?.0 {
            unavailableReason = "\(library) has no symbol \(missing) (NVIDIA driver too old, or not NVML)"
            return
        }
        api = API(
            initialize: unsafeBitCast(found[0]!, to: InitFn.self),
            count: unsafeBitCast(found[1]!, to: CountFn.self),
            handle: unsafeBitCast(found[2]!, to: HandleFn.self),
            energy: unsafeBitCast(found[3]!, to: EnergyFn.self),
            shutdown: unsafeBitCast(found[4]!, to: ShutdownFn.self),
            errorString: symbol("nvmlErrorString").map { unsafeBitCast($0, to: ErrorStringFn.self) })
    }

    deinit {
        if startTime != nil, let api { _ = api.shutdown() }
        if let handle { dlclose(handle) }
    }

    private func describe(_ code: Int32, _ call: String) -> String {
        let text = api?.errorString?(code).map { String(cString: $0) } ?? "error \(code)"
        return "\(call) failed: \(text)"
    }

    private func readAll(_ api: API) throws -> [UInt64] {
        var values: [UInt64] = []
        for (i, d) in devices.enumerated() {
            var mj: UInt64 = 0
            let rc = api.energy(d, &mj)
            guard rc == 0 else {
                let hint = rc == 3 ? " (the total-energy counter needs a Volta or newer GPU)" : ""
                throw EnergyError.meterUnavailable(meter: name, reason: describe(rc, "nvmlDeviceGetTotalEnergyConsumption(gpu \(i))") + hint)
            }
            values.append(mj)
        }
        return values
    }

    public func start() throws {
        guard let api else { throw EnergyError.meterUnavailable(meter: name, reason: unavailableReason ?? "not loaded") }
        var rc = api.initialize()
        guard rc == 0 else { throw EnergyError.meterUnavailable(meter: name, reason: describe(rc, "nvmlInit_v2")) }
        var n: UInt32 = 0
        rc = api.count(&n)
        guard rc == 0 else {
            _ = api.shutdown()
            throw EnergyError.meterUnavailable(meter: name, reason: describe(rc, "nvmlDeviceGetCount_v2"))
        }
        devices = []
        for i in 0..<n {
            var dev: OpaquePointer?
            rc = api.handle(i, &dev)
            guard rc == 0 else {
                _ = api.shutdown()
                throw EnergyError.meterUnavailable(meter: name, reason: describe(rc, "nvmlDeviceGetHandleByIndex_v2(\(i))"))
            }
            devices.append(dev)
        }
        deviceCount = Int(n)
        do { startMillijoules = try readAll(api) } catch { _ = api.shutdown(); throw error }
        startTime = Date()
    }

    public func stop() throws -> EnergyReading {
        guard let api, let began = startTime else { throw EnergyError.notStarted(meter: name) }
        defer { startTime = nil; _ = api.shutdown() }
        let end = try readAll(api)
        // The counter counts from driver load and does not wrap in practice (64-bit millijoules).
        let mj = zip(startMillijoules, end).reduce(0.0) { $0 + Double($1.1 >= $1.0 ? $1.1 - $1.0 : 0) }
        let labels = (0..<devices.count).map { "gpu\($0)" }.joined(separator: "+")
        return EnergyReading(joules: mj / 1000, kind: .measured, source: "nvml:" + (labels.isEmpty ? "no-gpu" : labels),
                             seconds: Date().timeIntervalSince(began))
    }
}
