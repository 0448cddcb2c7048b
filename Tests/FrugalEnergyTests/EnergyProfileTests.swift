import Foundation
import FrugalCore
import FrugalEngine
import Testing
@testable import FrugalEnergy

/// The profile behind `frugal profile`: which figure is the headline, and the JSON fields.
@Suite struct EnergyProfileTests {
    func graph() throws -> Graph { try EnergyModelHandTests().fp32Graph() }

    func profile(meters: [any EnergyMeter], run: (() -> Void)? = nil) throws -> EnergyProfile {
        let g = try graph()
        let x = try Tensor(zeros: [2, 4])
        let factors = try CarbonFactors(intensity: CarbonIntensity.user(400), pue: 1.5)
        return try EnergyProfile.make(model: "two-layer", graph: g, feeds: ["x": x], batch: 2, runs: 4, threads: 1,
                                      costTable: .horowitz45nm, factors: factors, meters: meters)
    }

    func keys(_ j: JSON) -> [String] {
        guard case .object(let o) = j else { return [] }
        return o.map(\.0)
    }

    func field(_ j: JSON, _ k: String) -> JSON? {
        guard case .object(let o) = j else { return nil }
        return o.first { $0.0 == k }?.1
    }

    @Test func withoutACounterTheHeadlineIsTheModelsEstimate() throws {
        let rapl = FakeCounter(name: "RAPL", unavailable: "no /sys/class/powercap", idleWatts: 0, joulesPerWork: 0)
        let p = try profile(meters: [rapl])
        #expect(p.headline.kind == .estimated && p.headline.source == "model:horowitz-45nm")
        #expect(p.headline.joules == p.energy.joulesPerInference)
        // gCO2e per million = J x 1e6 / 3.6e6 J/kWh x 400 g/kWh x PUE 1.5.
        #expect(relativeError(p.carbonGramsPerMillion, p.headline.joules * 1e6 / 3.6e6 * 400 * 1.5) < 1e-12)
        #expect(relativeError(p.inferencesPerKWh, 3.6e6 / p.headline.joules) < 1e-12)
        let j = p.json()
        for k in ["total_macs", "total_params", "energy_joules_per_inference", "layers", "carbon_g_per_million"] {
            #expect(keys(j).contains(k), "missing \(k)")
        }
        let e = try #require(field(j, "energy_joules_per_inference"))
        #expect(keys(e) == ["value", "kind", "source"])
        #expect(field(e, "kind") == JSON("estimated"))
        #expect(field(j, "total_macs") == JSON(18) && field(j, "total_params") == JSON(23))
        #expect(field(j, "meters_unavailable") == JSON.array([JSON("RAPL: no /sys/class/powercap")]))
        guard case .array(let layers)? = field(j, "layers") else { Issue.record("layers is not an array"); return }
        #expect(layers.count == 2)
        for k in ["name", "op", "params", "macs", "bytes", "energy_joules"] { #expect(keys(layers[0]).contains(k)) }
        #expect(field(layers[0], "macs") == JSON(12))
    }

    @Test func aMeasuredCounterBecomesTheHeadlineAndSaysSo() throws {
        // Idle interval: 0 J; the 4 runs of batch 2: 8 mJ -> 1 mJ per inference.
        let meter = ScriptedCounter(name: "rapl", joules: [0, 8e-3])
        let p = try profile(meters: [meter])
        #expect(p.headline.kind == .measured && p.headline.source == "rapl")
        #expect(relativeError(p.headline.joules, 1e-3) < 1e-12)
        #expect(p.energy.joulesPerInference < 1e-9)  // the model's figure is kept beside it
        let j = p.json()
        let e = try #require(field(j, "energy_joules_per_inference"))
        #expect(field(e, "kind") == JSON("measured") && field(e, "source") == JSON("rapl"))
        #expect(keys(try #require(field(j, "measured"))).contains("joules_per_inference"))
    }
}

/// A counter whose successive intervals read the given joules.
final class ScriptedCounter: EnergyMeter {
    let name: String
    let kind = EnergyKind.measured
    let unavailableReason: String? = nil
    private var script: [Double]

    init(name: String, joules: [Double]) {
        self.name = name
        script = joules
    }

    func start() throws {}
    func stop() throws -> EnergyReading {
        guard !script.isEmpty else { throw EnergyError.notStarted(meter: name) }
        return EnergyReading(joules: script.removeFirst(), kind: kind, source: name)
    }
}

@Suite struct RunTraceTests {
    @Test func traceRejectsMissingAndUnknownInputs() throws {
        let session = try Session(graph: try EnergyModelHandTests().fp32Graph(), options: SessionOptions(threads: 1))
        #expect(throws: EngineError.self) { _ = try session.trace([:]) }
        #expect(throws: EngineError.self) { _ = try session.trace(["x": try Tensor(zeros: [1, 4]), "y": try Tensor(zeros: [1])]) }
        #expect(throws: EngineError.self) { _ = try session.trace(["x": try Tensor(zeros: [1, 5])]) }
    }

    @Test func traceRecordsTheShapesOfTheExecutedNodes() throws {
        let session = try Session(graph: try EnergyModelHandTests().fp32Graph(), options: SessionOptions(threads: 1))
        let t = try session.trace(["x": try Tensor(zeros: [3, 4])])
        #expect(t.map(\.node.name) == session.executedNodes.map(\.name))
        #expect(t[0].inputs.map { $0?.shape } == [[3, 4], [4, 3], [3]])
        #expect(t[0].inputIsConstant == [false, true, true])
        #expect(t[1].outputs.map { $0?.shape } == [[3, 2]])
    }
}
