import Foundation
import FrugalCore

/// ONNX Runtime as an oracle, through the project's venv (`scripts/setup_python.sh`). Tests that
/// need it are disabled, with the reason shown, where the venv or onnxruntime is missing.
enum ORTOracle {
    static let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
    static let python = root.appendingPathComponent(".venv/bin/python").path

    static let isAvailable: Bool = {
        guard FileManager.default.isExecutableFile(atPath: python) else { return false }
        return (try? runPython(["-c", "import onnxruntime, numpy"]))?.status == 0
    }()

    static func runPython(_ args: [String]) throws -> (status: Int32, output: String) {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: python)
        p.arguments = args
        let pipe = Pipe()
        p.standardOutput = pipe
        p.standardError = pipe
        try p.run()
        let data = pipe.fileHandleForReading.readDataToEndOfFile()
        p.waitUntilExit()
        return (p.terminationStatus, String(decoding: data, as: UTF8.self))
    }

    /// Runs `model` in ONNX Runtime (CPU, 1 thread) on `inputs`; returns its outputs in order.
    static func run(model: String, inputs: [String: Tensor]) throws -> [Tensor] {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("frugal-ort-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        var args: [String] = []
        for (name, t) in inputs {
            let f = dir.appendingPathComponent("in_\(args.count).npy").path
            try NPY.write(t, path: f)
            args += [name, f]
        }
        let script = """
            import sys, numpy as np, onnxruntime as ort
            model, out_dir, rest = sys.argv[1], sys.argv[2], sys.argv[3:]
            so = ort.SessionOptions(); so.intra_op_num_threads = 1
            s = ort.InferenceSession(model, so, providers=["CPUExecutionProvider"])
            feeds = {rest[i]: np.load(rest[i + 1]) for i in range(0, len(rest), 2)}
            for i, o in enumerate(s.run(None, feeds)):
                np.save(f"{out_dir}/out_{i}.npy", o)
            print(len(s.get_outputs()))
            """
        let r = try runPython(["-c", script, model, dir.path] + args)
        guard r.status == 0, let count = Int(r.output.split(separator: "\n").last ?? "") else {
            throw CoreError.invalidArgument("ONNX Runtime failed on \(model):\n\(r.output)")
        }
        return try (0..<count).map { try NPY.read(path: dir.appendingPathComponent("out_\($0).npy").path) }
    }
}

/// Largest |a - b| / max(|b|, 1e-6 scale) over two float tensors of equal shape.
func maxRelativeError(_ a: Tensor, _ b: Tensor) -> Float {
    let x = a.floatScalars(), y = b.floatScalars()
    precondition(x.count == y.count)
    let scale = max(y.map(abs).max() ?? 0, 1e-6)
    var worst: Float = 0
    for i in 0..<x.count {
        // A NaN or infinity where the reference is finite is the worst error (max() would
        // keep `worst` and hide a NaN); matching non-finite values are fine.
        if !x[i].isFinite || !y[i].isFinite {
            if x[i].isNaN && y[i].isNaN || x[i] == y[i] { continue }
            return .infinity
        }
        worst = max(worst, abs(x[i] - y[i]) / max(abs(y[i]), scale * 1e-3))
    }
    return worst
}

extension ORTOracle {
    /// Runs `script` with the venv's Python, its one argument a fresh temporary directory that
    /// `body` then reads (and that is removed afterwards); `body` gets the directory and the
    /// script's output lines. Fails with the script's output when it fails.
    static func withScript<R>(_ script: String, _ body: (URL, [String]) throws -> R) throws -> R {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("frugal-oracle-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        let r = try runPython(["-c", script, dir.path])
        guard r.status == 0 else { throw CoreError.invalidArgument("the Python script failed:\n\(r.output)") }
        return try body(dir, r.output.split(separator: "\n").map(String.init).filter { !$0.isEmpty })
    }
}
