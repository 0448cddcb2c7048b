import FrugalCore
import Foundation

/// The MNIST digits (Y. LeCun, C. Cortes, C. J. C. Burges; CC BY-SA 3.0), read from the four
/// gzip-compressed IDX files that the repository ships in `data/mnist/`.
///
/// Images become float32 [N, 1, 28, 28] normalised as `(pixel / 255 - 0.1307) / 0.3081`, the
/// mean and standard deviation of the training set's pixels on the [0, 1] scale (the values
/// PyTorch's MNIST examples use); labels are 0...9.
public struct MNIST: Dataset {
    public enum Split: String, Sendable, CaseIterable {
        case train, test
        /// File name stem: "train" or "t10k".
        public var stem: String { self == .train ? "train" : "t10k" }
        /// Examples in the official split.
        public var expectedCount: Int { self == .train ? 60_000 : 10_000 }
    }

    /// Mean of the training pixels on the [0, 1] scale.
    public static let mean: Float = 0.1307
    /// Standard deviation of the training pixels on the [0, 1] scale.
    public static let std: Float = 0.3081
    /// A black pixel after normalisation: -mean/std ≈ -0.4242.
    public static let normalizedBackground: Float = -mean / std

    public let split: Split
    /// float32 [N, 1, 28, 28], normalised.
    public let images: Tensor
    /// One label per image, 0...9.
    public let labels: [Int32]

    public var count: Int { labels.count }

    /// Loads a split from `directory` (default: ``locateDirectory()``), reading
    /// `<stem>-images-idx3-ubyte[.gz]` and `<stem>-labels-idx1-ubyte[.gz]`. `limit` keeps the
    /// first examples only.
    public init(split: Split, directory: String? = nil, limit: Int? = nil) throws {
        let dir = try directory ?? MNIST.locateDirectory()
        let imagesPath = try MNIST.file(dir, "\(split.stem)-images-idx3-ubyte")
        let labelsPath = try MNIST.file(dir, "\(split.stem)-labels-idx1-ubyte")
        let raw = try MNIST.readImages(path: imagesPath)
        let lab = try MNIST.readLabels(path: labelsPath)
        let n = raw.shape[0]
        guard lab.shape[0] == n else {
            throw TrainingError.data(path: labelsPath, reason: "\(lab.shape[0]) labels but \(imagesPath) holds \(n) images; the files must come from the same split")
        }
        let keep = Swift.min(limit ?? n, n)
        self.split = split
        self.images = try MNIST.normalize(raw, count: keep)
        self.labels = lab.withUnsafeBufferPointer(as: UInt8.self) { src in (0..<keep).map { Int32(src[$0]) } }
    }

    public func batch(_ indices: [Int]) -> Batch {
        // The checks in TensorDataset's init hold by construction.
        try! TensorDataset(inputs: images, labels: labels, name: "MNIST").batch(indices)
    }

    /// uint8 images [N, 28, 28] from an IDX file; checks magic number 0x00000803 and 28x28 size.
    public static func readImages(path: String) throws -> Tensor {
        let t = try IDX.read(path: path, expectedRank: 3)
        guard t.shape[1] == 28, t.shape[2] == 28 else {
            throw TrainingError.data(path: path, reason: "images are \(t.shape[1])x\(t.shape[2]); MNIST images are 28x28")
        }
        return t
    }

    /// uint8 labels [N] from an IDX file; checks magic number 0x00000801 and that every label is 0...9.
    public static func readLabels(path: String) throws -> Tensor {
        let t = try IDX.read(path: path, expectedRank: 1)
        let bad = t.withUnsafeBufferPointer(as: UInt8.self) { p in p.firstIndex { $0 > 9 } }
        if let i = bad {
            let v = t.withUnsafeBufferPointer(as: UInt8.self) { $0[i] }
            throw TrainingError.data(path: path, reason: "label \(v) at index \(i) is outside 0-9")
        }
        return t
    }

    /// The first `count` uint8 images [N, 28, 28] as normalised float32 [count, 1, 28, 28].
    public static func normalize(_ raw: Tensor, count: Int) throws -> Tensor {
        let hw = raw.shape[1] * raw.shape[2]
        var out = try Tensor(zeros: [count, 1, raw.shape[1], raw.shape[2]], dtype: .float32)
        let scale = 1 / (255 * std), shift = mean / std
        raw.withUnsafeBufferPointer(as: UInt8.self) { src in
            out.withUnsafeMutableBufferPointer(as: Float.self) { dst in
                for i in 0..<count * hw { dst[i] = Float(src[i]) * scale - shift }
            }
        }
        return out
    }

    /// The directory with the MNIST files: `$FRUGAL_MNIST_DIR`, else the first `data/mnist`
    /// found from the current directory upwards, else `data/mnist` next to this package's sources.
    public static func locateDirectory() throws -> String {
        let fm = FileManager.default
        if let env = ProcessInfo.processInfo.environment["FRUGAL_MNIST_DIR"], !env.isEmpty { return env }
        var candidates: [URL] = []
        var dir = URL(fileURLWithPath: fm.currentDirectoryPath)
        for _ in 0..<8 {
            candidates.append(dir.appendingPathComponent("data/mnist"))
            dir.deleteLastPathComponent()
        }
        // Sources/FrugalTraining/Data/MNIST.swift -> package root.
        let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent().deletingLastPathComponent()
        candidates.append(root.appendingPathComponent("data/mnist"))
        for c in candidates where fm.fileExists(atPath: c.appendingPathComponent("t10k-labels-idx1-ubyte.gz").path)
            || fm.fileExists(atPath: c.appendingPathComponent("t10k-labels-idx1-ubyte").path) {
            return c.path
        }
        throw TrainingError.data(path: "data/mnist", reason: "MNIST files not found; run from the repository (which ships them in data/mnist/) or set FRUGAL_MNIST_DIR")
    }

    private static func file(_ dir: String, _ stem: String) throws -> String {
        let fm = FileManager.default
        let gz = (dir as NSString).appendingPathComponent(stem + ".gz")
        if fm.fileExists(atPath: gz) { return gz }
        let plain = (dir as NSString).appendingPathComponent(stem)
        if fm.fileExists(atPath: plain) { return plain }
        throw TrainingError.data(path: gz, reason: "missing; the MNIST directory needs \(stem).gz (or uncompressed \(stem))")
    }
}

/// A dataset from two NPY files: inputs (any numeric dtype, converted to float32; uint8 pixels
/// are scaled to [0, 1]) with the examples first, and integer class labels [N].
public struct NPYDataset: Dataset {
    public let data: TensorDataset

    public init(images imagesPath: String, labels labelsPath: String, normalize: (mean: Float, std: Float)? = nil) throws {
        let x: Tensor, y: Tensor
        do { x = try NPY.read(path: imagesPath) } catch let e as TrainingError { throw e } catch {
            throw TrainingError.data(path: imagesPath, reason: "\(error)")
        }
        do { y = try NPY.read(path: labelsPath) } catch let e as TrainingError { throw e } catch {
            throw TrainingError.data(path: labelsPath, reason: "\(error)")
        }
        guard x.rank >= 1 else { throw TrainingError.data(path: imagesPath, reason: "a scalar; expected examples first") }
        guard y.rank == 1, [.int64, .int32, .uint8, .int8].contains(y.dtype) else {
            throw TrainingError.data(path: labelsPath, reason: "labels must be an integer vector [N]; got \(y.dtype) \(y.shape)")
        }
        guard x.shape[0] == y.shape[0] else {
            throw TrainingError.data(path: labelsPath, reason: "\(y.shape[0]) labels but \(imagesPath) holds \(x.shape[0]) examples")
        }
        var values = x.floatScalars()
        if x.dtype == .uint8 { for i in values.indices { values[i] /= 255 } }
        if let n = normalize { for i in values.indices { values[i] = (values[i] - n.mean) / n.std } }
        let labels = y.floatScalars().map { Int32($0) }
        if let i = labels.firstIndex(where: { $0 < 0 }) {
            throw TrainingError.data(path: labelsPath, reason: "label \(labels[i]) at index \(i) is negative")
        }
        data = try TensorDataset(inputs: Tensor(shape: x.shape, scalars: values), labels: labels, name: imagesPath)
    }

    public var count: Int { data.count }
    public func batch(_ indices: [Int]) -> Batch { data.batch(indices) }
}
