import Foundation
import FrugalCore
import FrugalEngine

/// Zero-filled feeds for a session's inputs, with the first symbolic dimension as the batch.
func zeroFeeds(_ session: Session, batch: Int = 1) throws -> [String: Tensor] {
    var feeds: [String: Tensor] = [:]
    for info in session.plan.requiredInputs {
        let dims = (info.shape ?? []).enumerated().map { i, d in d.value ?? (i == 0 ? batch : 1) }
        feeds[info.name] = try Tensor(zeros: Shape(dims), dtype: info.dtype ?? .float32)
    }
    return feeds
}

/// Relative difference of two figures.
func relativeError(_ a: Double, _ b: Double) -> Double { abs(a - b) / max(abs(b), .leastNormalMagnitude) }

/// A fresh temporary directory for one test.
func temporaryDirectory(_ name: String) throws -> String {
    let dir = FileManager.default.temporaryDirectory.appendingPathComponent("frugal-energy-\(name)-\(UUID().uuidString)").path
    try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
    return dir
}

/// The shared MobileNetV2 export, beside the repository (absent on a fresh clone).
func sharedModelPath(_ name: String) -> String {
    URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        .appendingPathComponent("../shared/models/\(name)/model.onnx").standardizedFileURL.path
}
