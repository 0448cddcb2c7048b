import ArgumentParser
import Foundation
import FrugalCore
import FrugalONNX

struct ConformanceCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "conformance",
        abstract: "Run ONNX's backend node tests through Frugal's engine.",
        discussion: """
            DIR is onnx/backend/test/data/node from onnx 1.22.0 (scripts/fetch_onnx_node_tests.sh \
            puts it in .cache/onnx-node-tests). Cases whose ops or element types Frugal does not \
            claim are skipped, with the reasons listed; every other case must pass.
            """)

    @Argument(help: "The node-test folder.") var directory: String = ".cache/onnx-node-tests"
    @Option(help: "Only cases whose name contains this.") var filter: String?
    @Flag(help: "List every failed case with its reason.") var failures = false
    @Flag(help: "Print one JSON object: {passed, failed, skipped, failures: [{case, reason}], skipped_reasons: [{reason, count}]}.")
    var json = false

    func run() throws {
        try runReportingErrors {
            let s = try Conformance.run(directory: directory, filter: filter) { i, n in
                if !json && stderrIsTerminal && i % 20 == 0 { FileHandle.standardError.write(Data("\r\(i)/\(n)".utf8)) }
            }
            if !json && stderrIsTerminal { FileHandle.standardError.write(Data("\r".utf8)) }
            if json {
                let out: JSON = [
                    "passed": JSON(s.passed), "failed": JSON(s.failed.count), "skipped": JSON(s.skipped.count),
                    "failures": .array(s.failed.map { r in
                        guard case .failed(let why) = r.outcome else { return .null }
                        return ["case": JSON(r.name), "reason": JSON(why)]
                    }),
                    "skipped_reasons": .array(s.skipReasons.map { ["reason": JSON($0.reason), "count": JSON($0.count)] }),
                ]
                print(out.serialized())
            } else {
                if failures || s.failed.count <= 30 {
                    for r in s.failed { if case .failed(let why) = r.outcome { print("FAIL \(r.name): \(why)") } }
                }
                print("skipped, by reason:")
                for (reason, count) in s.skipReasons { print("  \(count)\t\(reason)") }
                print("\(s.passed) passed, \(s.failed.count) failed, \(s.skipped.count) skipped")
            }
            if !s.failed.isEmpty { throw ExitCode(1) }
        }
    }
}
