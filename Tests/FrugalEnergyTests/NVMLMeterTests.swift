import Foundation
import XCTest
@testable import FrugalEnergy

final class NVMLMeterTests: XCTestCase {
    func testAbsentDriverIsNamed() throws {
        if let h = dlopen("libnvidia-ml.so.1", RTLD_NOW) {
            dlclose(h)
            throw XCTSkip("this machine has an NVIDIA driver")
        }
        let m = NVMLMeter()
        XCTAssertEqual(m.unavailableReason, "libnvidia-ml.so.1 not found (no NVIDIA driver)")
        XCTAssertThrowsError(try m.start())
        XCTAssertEqual(NVMLMeter(library: "libfrugal-no-such-lib.so.9").unavailableReason, "libfrugal-no-such-lib.so.9 not found")
    }

    func testLibraryWithoutTheSymbols() {
        // libm loads but is not NVML.
        let m = NVMLMeter(library: "libm.so.6")
        XCTAssertEqual(m.unavailableReason, "libm.so.6 has no symbol nvmlInit_v2 (NVIDIA driver too old, or not NVML)")
    }

    /// Builds a stand-in libnvidia-ml with the five entry points, so the dlsym'ed calls, the
    /// per-device sum and the millijoule conversion run for real without a GPU.
    private func buildFakeNVML(devices: Int, energyReturns: Int32 = 0) throws -> String {
        guard FileManager.default.isExecutableFile(atPath: "/usr/bin/cc") else { throw XCTSkip("no C compiler at /usr/bin/cc") }
        let dir = NSTemporaryDirectory() + "frugal-fake-nvml-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        let source = """
            #include <stdint.h>
            static unsigned long long reads[16];
            static int initialised;
            int nvmlInit_v2(void) { initialised = 1; return 0; }
            int nvmlShutdown(void) { initialised = 0; return 0; }
            int nvmlDeviceGetCount_v2(unsigned int *n) { *n = \(devices); return initialised ? 0 : 1; }
            int nvmlDeviceGetHandleByIndex_v2(unsigned int i, void **h) { *h = (void *)(uintptr_t)(i + 1); return 0; }
            /* device d (1-based) reports d * 1000 mJ more at each read */
            int nvmlDeviceGetTotalEnergyConsumption(void *h, unsigned long long *mj) {
                uintptr_t d = (uintptr_t)h;
                reads[d] += 1;
                *mj = 5000000ULL + reads[d] * d * 1000ULL;
                return \(energyReturns);
            }
            const char *nvmlErrorString(int rc) { return rc == 3 ? "Not Supported" : "Unknown Error"; }
            """
        try source.write(toFile: dir + "/fake.c", atomically: true, encoding: .utf8)
        let p = Process()
        p.executableURL = URL(fileURLWithPath: "/usr/bin/cc")
        p.arguments = ["-shared", "-fPIC", "-o", dir + "/libfakenvml.so", dir + "/fake.c"]
        try p.run()
        p.waitUntilExit()
        guard p.terminationStatus == 0 else { throw XCTSkip("cc could not build the stand-in library") }
        return dir + "/libfakenvml.so"
    }

    func testSumsDevicesThroughRealDlopenCalls() throws {
        let lib = try buildFakeNVML(devices: 2)
        let m = NVMLMeter(library: lib)
        XCTAssertNil(m.unavailableReason)
        try m.start()
        XCTAssertEqual(m.deviceCount, 2)
        let r = try m.stop()
        // Between start and stop, device 1 moved 1000 mJ and device 2 moved 2000 mJ.
        XCTAssertEqual(r.joules, 3.0, accuracy: 1e-12)
        XCTAssertEqual(r.kind, .measured)
        XCTAssertEqual(r.source, "nvml:gpu0+gpu1")
    }

    func testUnsupportedCounterIsExplained() throws {
        let lib = try buildFakeNVML(devices: 1, energyReturns: 3)
        let m = NVMLMeter(library: lib)
        XCTAssertThrowsError(try m.start()) { e in
            guard case EnergyError.meterUnavailable(_, let reason) = e else { return XCTFail("\(e)") }
            XCTAssertTrue(reason.contains("Not Supported") && reason.contains("Volta"), reason)
        }
    }
}
