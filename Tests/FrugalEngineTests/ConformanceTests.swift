import Foundation
import FrugalONNX
import Testing

/// ONNX 1.22.0's backend node tests through the engine (scripts/test.sh fetches them into
/// .cache/onnx-node-tests; FRUGAL_ONNX_NODE_TESTS may point elsewhere). Every case Frugal
/// claims must pass, and the number passing must not fall below the last recorded count.
@Suite struct ConformanceTests {
    static let nodeTests = ProcessInfo.processInfo.environment["FRUGAL_ONNX_NODE_TESTS"]
        ?? URL(fileURLWithPath: #filePath).deletingLastPathComponent()
        .appendingPathComponent("../../.cache/onnx-node-tests").standardized.path

    /// Raise this as ops land (README records the current count).
    static let minimumPassing = 1213

    @Test(.enabled(if: FileManager.default.fileExists(atPath: nodeTests), "ONNX node tests not fetched (scripts/fetch_onnx_node_tests.sh)"))
    func everyClaimedCasePasses() throws {
        let s = try Conformance.run(directory: Self.nodeTests, threads: 2)
        let failures = s.failed.map { r -> String in
            if case .failed(let why) = r.outcome { return "\(r.name): \(why)" } else { return r.name }
        }
        #expect(failures.isEmpty, "\(failures.count) claimed cases failed:\n\(failures.joined(separator: "\n"))")
        #expect(s.passed >= Self.minimumPassing, "\(s.passed) passed, expected at least \(Self.minimumPassing)")
    }
}
