import Foundation
import FrugalCore
import FrugalEngine
import FrugalONNX
import FrugalTraining
import Testing
@testable import FrugalEnergy

/// Multiply-adds and parameters of real models against the papers' figures and against the
/// zoo's static count (ModelStats, an independent pass over the unoptimised graph).
@Suite struct ModelCountTests {
    func energy(_ g: Graph, batch: Int) throws -> ModelEnergy {
        let session = try Session(graph: g, options: SessionOptions(threads: 1))
        return try EnergyModel(cache: CacheInfo(lastLevelBytes: 1 << 20, source: "test"))
            .evaluate(session: session, feeds: try zeroFeeds(session, batch: batch), batch: batch)
    }

    @Test(arguments: [1, 3]) func leNet300100HasExactly266200MultiplyAdds(batch: Int) throws {
        let g = try Zoo.build("lenet-300-100")
        let m = try energy(g, batch: batch)
        // 784x300 + 300x100 + 100x10 = 235,200 + 30,000 + 1,000.
        #expect(m.macsPerInference == 266_200)
        #expect(m.macsPerInference == ModelStats(graph: g).macs)
        // 784x300 + 300 + 300x100 + 100 + 100x10 + 10 = 266,610.
        #expect(ParameterCount.exported(g) == 266_610)
        #expect(m.layers.reduce(0) { $0 + $1.parameters } == 266_610)
    }

    @Test func mobileNetV2AsExported() throws {
        let path = sharedModelPath("mobilenetv2")
        guard FileManager.default.fileExists(atPath: path) else {
            print("note: \(path) is absent; skipping the MobileNetV2 counts")
            return
        }
        let g = try ONNXImporter.load(path: path)
        let m = try energy(g, batch: 1)
        // MobileNetV2 paper, Table 4 / torchvision: 300M multiply-adds (300.8M counted), 3.4-3.5M parameters.
        #expect(relativeError(Double(m.macsPerInference), 300.8e6) < 0.02, "MACs \(m.macsPerInference)")
        #expect(m.macsPerInference == ModelStats(graph: g).macs)
        let params = ParameterCount.exported(g)
        #expect(relativeError(Double(params), 3.49e6) < 0.02, "parameters \(params)")
        #expect(params == ModelStats(graph: g).parameters)
        let unmodeled = m.layers.filter { !$0.counts.modeled }.map(\.opType)
        #expect(unmodeled.isEmpty, "unmodeled ops: \(unmodeled)")
        #expect(m.joulesPerInference > 0)
    }

    @Test func foldedBatchNormKeepsMultiplyAddsAndDropsItsParametersFromTheExecutedGraph() throws {
        let g = try Zoo.build("mobilenet-v2")
        let stats = ModelStats(graph: g)
        // The zoo graph keeps BatchNormalization (torchvision's 3,504,872 parameters); the engine
        // folds it into the convolutions, which changes parameters but not multiply-adds.
        #expect(ParameterCount.exported(g) == stats.parameters)
        let m = try energy(g, batch: 1)
        #expect(m.macsPerInference == stats.macs)
        #expect(m.layers.allSatisfy { $0.opType != "BatchNormalization" })
        #expect(m.layers.reduce(0) { $0 + $1.parameters } < stats.parameters)
    }
}
