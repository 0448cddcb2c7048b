import Foundation
import Testing
import FrugalCore
@testable import FrugalTraining

@Suite struct MNISTTests {
    static let dir = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent().appendingPathComponent("data/mnist").path

    @Test func md5IsRFCVectors() {
        #expect(MD5.hex(Data()) == "d41d8cd98f00b204e9800998ecf8427e")
        #expect(MD5.hex(Data("The quick brown fox jumps over the lazy dog".utf8)) == "9e107d9d372bb6826bd81d3542a419d6")
    }

    @Test(arguments: [
        ("train-images-idx3-ubyte", "6bbc9ace898e44ae57da46a324031adb"),
        ("train-labels-idx1-ubyte", "a25bea736e30d166cdddb491f175f624"),
        ("t10k-images-idx3-ubyte", "2646ac647ad5339dbf082846283269ea"),
        ("t10k-labels-idx1-ubyte", "27ae3e4e09519cfbb04c329615203637"),
    ])
    func uncompressedFilesHaveThePublishedMD5(file: String, md5: String) throws {
        let data = try Gzip.readFile("\(Self.dir)/\(file).gz")
        #expect(MD5.hex(data) == md5, "\(file)")
    }

    @Test(arguments: MNIST.Split.allCases)
    func splitsHaveTheirCountsAndLabels(split: MNIST.Split) throws {
        let m = try MNIST(split: split, directory: Self.dir)
        #expect(m.count == split.expectedCount)
        #expect(m.images.shape == [split.expectedCount, 1, 28, 28])
        #expect(m.images.dtype == .float32)
        let labels = m.labels
        #expect(labels.allSatisfy { (0...9).contains($0) })
        #expect(Set(labels) == Set(0...9))
        // Normalisation: black is -mean/std, white is (1-mean)/std, and the training set has mean ~0, std ~1.
        let px = m.images.scalars(as: Float.self)
        let lo = px.min()!, hi = px.max()!
        #expect(abs(lo - MNIST.normalizedBackground) < 1e-5)
        #expect(abs(hi - (1 - MNIST.mean) / MNIST.std) < 1e-5)
        if split == .train {
            let mean = px.reduce(0.0) { $0 + Double($1) } / Double(px.count)
            let variance = px.reduce(0.0) { $0 + (Double($1) - mean) * (Double($1) - mean) } / Double(px.count)
            #expect(abs(mean) < 1e-3)
            #expect(abs(variance.squareRoot() - 1) < 1e-3)
            #expect(labels.prefix(5) == [5, 0, 4, 1, 9])
        } else {
            #expect(labels.prefix(5) == [7, 2, 1, 0, 4])
        }
    }

    @Test func limitKeepsTheFirstExamples() throws {
        let m = try MNIST(split: .test, directory: Self.dir, limit: 100)
        #expect(m.count == 100)
        #expect(m.images.shape == [100, 1, 28, 28])
        let b = m.batch([3, 0])
        #expect(b.labels == [0, 7])
    }

    @Test func locatesTheRepositoryData() throws {
        let dir = try MNIST.locateDirectory()
        #expect(FileManager.default.fileExists(atPath: dir + "/t10k-labels-idx1-ubyte.gz"))
    }
}

/// Crafted bad files: each must fail with a TrainingError that names the file.
@Suite struct BadDataFileTests {
    let tmp: URL

    init() throws {
        tmp = FileManager.default.temporaryDirectory.appendingPathComponent("frugal-mnist-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: tmp, withIntermediateDirectories: true)
    }

    func idx(_ magic: UInt32, dims: [UInt32], payload: [UInt8]) -> Data {
        var b: [UInt8] = []
        for v in [magic] + dims { b += [UInt8(v >> 24), UInt8(v >> 16 & 0xFF), UInt8(v >> 8 & 0xFF), UInt8(v & 0xFF)] }
        return Data(b + payload)
    }

    /// Writes a split's two files (gzip-compressed) and returns the directory.
    func writeSplit(images: Data, labels: Data, gzipImages: Data? = nil) throws -> String {
        try (gzipImages ?? Gzip.compress(images)).write(to: tmp.appendingPathComponent("t10k-images-idx3-ubyte.gz"))
        try Gzip.compress(labels).write(to: tmp.appendingPathComponent("t10k-labels-idx1-ubyte.gz"))
        return tmp.path
    }

    func expectDataError(mentioning file: String, containing words: String, _ body: () throws -> Void) {
        do {
            try body()
            Issue.record("expected a TrainingError.data for \(file)")
        } catch let TrainingError.data(path, reason) {
            #expect(path.hasSuffix(file), "error names \(path), expected \(file)")
            #expect(reason.contains(words), "reason: \(reason)")
            #expect(!"\(TrainingError.data(path: path, reason: reason))".isEmpty)
        } catch {
            Issue.record("expected TrainingError.data, got \(error)")
        }
    }

    func goodImages(_ n: Int) -> Data { idx(0x803, dims: [UInt32(n), 28, 28], payload: [UInt8](repeating: 7, count: n * 784)) }
    func goodLabels(_ v: [UInt8]) -> Data { idx(0x801, dims: [UInt32(v.count)], payload: v) }

    @Test func craftedGoodFilesLoad() throws {
        let dir = try writeSplit(images: goodImages(3), labels: goodLabels([1, 2, 9]))
        let m = try MNIST(split: .test, directory: dir)
        #expect(m.count == 3)
        #expect(m.labels == [1, 2, 9])
        #expect(abs(m.images[floatAt: 0] - (7 / 255 - MNIST.mean) / MNIST.std) < 1e-6)
    }

    @Test func gzipRoundTrip() throws {
        let payload = Data((0..<100_000).map { UInt8(truncatingIfNeeded: $0 * 31 / 7) })
        #expect(try Gzip.decompress(Gzip.compress(payload)) == payload)
    }

    @Test func truncatedGzipStream() throws {
        let gz = Gzip.compress(goodImages(3))
        let dir = try writeSplit(images: Data(), labels: goodLabels([1, 2, 3]), gzipImages: gz.prefix(gz.count / 2))
        expectDataError(mentioning: "t10k-images-idx3-ubyte.gz", containing: "truncated") {
            _ = try MNIST(split: .test, directory: dir)
        }
    }

    @Test func notGzipAtAll() throws {
        let dir = try writeSplit(images: Data(), labels: goodLabels([1]), gzipImages: Data("hello, not gzip".utf8))
        expectDataError(mentioning: "t10k-images-idx3-ubyte.gz", containing: "gzip") {
            _ = try MNIST(split: .test, directory: dir)
        }
    }

    @Test func truncatedIDXPayload() throws {
        var images = goodImages(3)
        images.removeLast(100)
        let dir = try writeSplit(images: images, labels: goodLabels([1, 2, 3]))
        expectDataError(mentioning: "t10k-images-idx3-ubyte.gz", containing: "truncated") {
            _ = try MNIST(split: .test, directory: dir)
        }
    }

    @Test func truncatedIDXHeader() throws {
        let dir = try writeSplit(images: Data([0, 0, 8, 3, 0, 0]), labels: goodLabels([1]))
        expectDataError(mentioning: "t10k-images-idx3-ubyte.gz", containing: "truncated") {
            _ = try MNIST(split: .test, directory: dir)
        }
    }

    @Test func wrongMagicNumbers() throws {
        // Images and labels swapped, and a non-IDX magic.
        var dir = try writeSplit(images: goodLabels([1, 2, 3]), labels: goodLabels([1, 2, 3]))
        expectDataError(mentioning: "t10k-images-idx3-ubyte.gz", containing: "magic") {
            _ = try MNIST(split: .test, directory: dir)
        }
        dir = try writeSplit(images: goodImages(3), labels: idx(0x1234_5678, dims: [3], payload: [1, 2, 3]))
        expectDataError(mentioning: "t10k-labels-idx1-ubyte.gz", containing: "magic") {
            _ = try MNIST(split: .test, directory: dir)
        }
    }

    @Test func countMismatch() throws {
        let dir = try writeSplit(images: goodImages(3), labels: goodLabels([1, 2]))
        expectDataError(mentioning: "t10k-labels-idx1-ubyte.gz", containing: "2 labels but") {
            _ = try MNIST(split: .test, directory: dir)
        }
    }

    @Test func labelOutOfRange() throws {
        let dir = try writeSplit(images: goodImages(3), labels: goodLabels([1, 10, 3]))
        expectDataError(mentioning: "t10k-labels-idx1-ubyte.gz", containing: "label 10 at index 1") {
            _ = try MNIST(split: .test, directory: dir)
        }
    }

    @Test func wrongImageSize() throws {
        let dir = try writeSplit(images: idx(0x803, dims: [1, 32, 32], payload: [UInt8](repeating: 0, count: 1024)),
                                 labels: goodLabels([1]))
        expectDataError(mentioning: "t10k-images-idx3-ubyte.gz", containing: "28x28") {
            _ = try MNIST(split: .test, directory: dir)
        }
    }

    @Test func missingFile() throws {
        expectDataError(mentioning: "t10k-images-idx3-ubyte.gz", containing: "missing") {
            _ = try MNIST(split: .test, directory: tmp.path)
        }
    }
}
