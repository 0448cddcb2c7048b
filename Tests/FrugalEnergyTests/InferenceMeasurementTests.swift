import Foundation
import Testing
@testable import FrugalEnergy

/// A counter that draws `idleWatts` all the time plus `joulesPerWork` for each unit of work.
final class FakeCounter: EnergyMeter {
    let name: String
    let kind: EnergyKind
    let unavailableReason: String?
    let idleWatts: Double
    let joulesPerWork: Double
    var work = 0
    private var started: (time: UInt64, work: Int)?

    init(name: String = "fake", kind: EnergyKind = .measured, unavailable: String? = nil, idleWatts: Double, joulesPerWork: Double) {
        self.name = name
        self.kind = kind
        unavailableReason = unavailable
        self.idleWatts = idleWatts
        self.joulesPerWork = joulesPerWork
    }

    func start() throws { started = (DispatchTime.now().uptimeNanoseconds, work) }

    func stop() throws -> EnergyReading {
        guard let s = started else { throw EnergyError.notStarted(meter: name) }
        let seconds = Double(DispatchTime.now().uptimeNanoseconds - s.time) * 1e-9
        return EnergyReading(joules: idleWatts * seconds + joulesPerWork * Double(work - s.work), kind: kind, source: name, seconds: seconds)
    }
}

@Suite struct InferenceMeasurementTests {
    @Test func subtractsIdlePowerAndDividesByInferences() throws {
        let meter = FakeCounter(idleWatts: 2, joulesPerWork: 0.5)
        let r = try InferenceMeasurement.measure(meters: [meter], runs: 10, inferencesPerRun: 4, idleSeconds: 0.05) {
            meter.work += 1
            Thread.sleep(forTimeInterval: 0.01)
        }
        // Each run: 0.5 J of work for 4 inferences = 0.125 J each, once 2 W of idle is removed.
        let reading = try #require(r.perInference)
        #expect(reading.kind == .measured && reading.source == "fake")
        #expect(abs(reading.joules - 0.125) < 0.01, "\(reading.joules)")
        #expect(abs(r.idleWatts! - 2) < 0.2)
    }

    @Test func unavailableAndEstimateMetersGiveNoMeasurement() throws {
        let rapl = FakeCounter(name: "RAPL", unavailable: "no /sys/class/powercap", idleWatts: 0, joulesPerWork: 0)
        let estimate = FakeCounter(name: "cpu-time", kind: .estimated, idleWatts: 10, joulesPerWork: 1)
        var calls = 0
        let r = try InferenceMeasurement.measure(meters: [rapl, estimate], runs: 3, inferencesPerRun: 1) { calls += 1 }
        #expect(r.perInference == nil)
        #expect(r.unavailable == ["RAPL: no /sys/class/powercap"])
        #expect(calls == 3)
    }

    @Test func countersOfDifferentDevicesAreSummed() throws {
        let cpu = FakeCounter(name: "rapl", idleWatts: 0, joulesPerWork: 1), gpu = FakeCounter(name: "nvml", idleWatts: 0, joulesPerWork: 3)
        let r = try InferenceMeasurement.measure(meters: [cpu, gpu], runs: 5, inferencesPerRun: 1, idleSeconds: 0.01) {
            cpu.work += 1
            gpu.work += 1
        }
        #expect(r.perInference?.source == "rapl+nvml")
        #expect(abs((r.perInference?.joules ?? 0) - 4) < 1e-9)
    }
}
