import Foundation
import Testing

/// Proves that another package can depend on Frugal: SwiftPM refuses `unsafeFlags` in a
/// dependency that is resolved by version from a repository (a dependency by path or by
/// branch is exempt, so it would prove nothing). This test snapshots the package into a
/// temporary git repository tagged 1.0.0, builds a throwaway package that depends on it by
/// URL and version, and runs it.
@Suite(.serialized) struct DependencyTests {
    static let root = URL(fileURLWithPath: #filePath)
        .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()

    @discardableResult
    func run(_ args: [String], in dir: URL) throws -> (status: Int32, output: String) {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        p.arguments = args
        p.currentDirectoryURL = dir
        let pipe = Pipe()
        p.standardOutput = pipe
        p.standardError = pipe
        try p.run()
        let data = pipe.fileHandleForReading.readDataToEndOfFile()
        p.waitUntilExit()
        return (p.terminationStatus, String(decoding: data, as: UTF8.self))
    }

    @Test func throwawayPackageDependsOnFrugalByVersion() throws {
        let fm = FileManager.default
        let tmp = fm.temporaryDirectory.appendingPathComponent("frugal-dependency-\(UUID().uuidString)")
        defer { try? fm.removeItem(at: tmp) }
        let snapshot = tmp.appendingPathComponent("Frugal")
        try fm.createDirectory(at: snapshot, withIntermediateDirectories: true)
        for item in ["Package.swift", "Sources"] {
            try fm.copyItem(at: Self.root.appendingPathComponent(item), to: snapshot.appendingPathComponent(item))
        }
        for cmd in [["git", "init", "-q"], ["git", "add", "-A"],
                    ["git", "-c", "user.name=t", "-c", "user.email=t@t", "commit", "-qm", "snapshot"],
                    ["git", "tag", "1.0.0"]] {
            let r = try run(cmd, in: snapshot)
            #expect(r.status == 0, "\(cmd): \(r.output)")
        }
        let app = tmp.appendingPathComponent("App")
        try fm.createDirectory(at: app.appendingPathComponent("Sources/App"), withIntermediateDirectories: true)
        try """
            // swift-tools-version: 6.0
            import PackageDescription
            let package = Package(
                name: "App",
                platforms: [.macOS(.v15)],
                dependencies: [.package(url: "\(snapshot.absoluteString)", from: "1.0.0")],
                targets: [.executableTarget(name: "App", dependencies: [.product(name: "FrugalCore", package: "Frugal")])])
            """.write(to: app.appendingPathComponent("Package.swift"), atomically: true, encoding: .utf8)
        try """
            import FrugalCore
            let a = try Tensor(shape: [2, 2], scalars: [1, 2, 3, 4] as [Float])
            var c = [Float](repeating: 0, count: 4)
            a.withUnsafeBufferPointer(as: Float.self) { p in
                GEMM.sgemm(m: 2, n: 2, k: 2, a: p.baseAddress!, lda: 2, b: p.baseAddress!, ldb: 2,
                           c: &c, ldc: 2, pool: ThreadPool(threadCount: 1))
            }
            print(c)
            """.write(to: app.appendingPathComponent("Sources/App/main.swift"), atomically: true, encoding: .utf8)
        let build = try run(["swift", "build"], in: app)
        #expect(build.status == 0, "building a package that depends on Frugal failed:\n\(build.output)")
        #expect(!build.output.contains("unsafe build flags"))
        let exe = try run(["swift", "run", "--skip-build", "App"], in: app)
        #expect(exe.output.contains("[7.0, 10.0, 15.0, 22.0]"), "\(exe.output)")
    }
}
