import Foundation
import Testing
import FrugalCore
@testable import FrugalTraining

@Suite struct DatasetTests {
    /// n examples [1, 4, 4]; example i is filled with i, label i % 10.
    func toy(_ n: Int) throws -> TensorDataset {
        let x = (0..<n).flatMap { i in [Float](repeating: Float(i), count: 16) }
        return try TensorDataset(inputs: Tensor(shape: [n, 1, 4, 4], scalars: x),
                                 labels: (0..<n).map { Int32($0 % 10) })
    }

    func firstValues(_ b: Batch) -> [Int] {
        let v = b.inputs.scalars(as: Float.self)
        return (0..<b.count).map { Int(v[$0 * 16]) }
    }

    @Test func sequentialBatchesWithPartialLast() throws {
        let d = try toy(10)
        let batches = Array(d.batches(size: 4))
        #expect(batches.map(\.count) == [4, 4, 2])
        #expect(batches.map { firstValues($0) } == [[0, 1, 2, 3], [4, 5, 6, 7], [8, 9]])
        #expect(batches[2].inputs.shape == [2, 1, 4, 4])
        #expect(batches[2].labels == [8, 9])
        #expect(d.batches(size: 4, dropLast: true).map(\.count) == [4, 4])
    }

    @Test func batchingEdgeCases() throws {
        let d = try toy(8)
        #expect(d.batches(size: 4).map(\.count) == [4, 4])                 // exact multiple: no empty batch
        #expect(d.batches(size: 4, dropLast: true).map(\.count) == [4, 4])
        #expect(d.batches(size: 100).map(\.count) == [8])                  // larger than the dataset
        #expect(d.batches(size: 100, dropLast: true).count == 0)
        #expect(d.batches(size: 1).count == 8)
        let empty = try toy(0)
        #expect(empty.batches(size: 3).count == 0)
        #expect(d.all().count == 8)
    }

    @Test func shufflingIsSeededAndCoversEveryExample() throws {
        let d = try toy(100)
        let a = d.batches(size: 32, shuffle: true, seed: 7, epoch: 0).indexBatches.flatMap { $0 }
        let b = d.batches(size: 32, shuffle: true, seed: 7, epoch: 0).indexBatches.flatMap { $0 }
        let c = d.batches(size: 32, shuffle: true, seed: 7, epoch: 1).indexBatches.flatMap { $0 }
        let e = d.batches(size: 32, shuffle: true, seed: 8, epoch: 0).indexBatches.flatMap { $0 }
        #expect(a == b)
        #expect(a != c)
        #expect(a != e)
        #expect(a != Array(0..<100))
        #expect(a.sorted() == Array(0..<100))
        // The batch contents follow the plan.
        let batches = Array(d.batches(size: 32, shuffle: true, seed: 7, epoch: 0))
        #expect(batches.flatMap { firstValues($0) } == a)
        #expect(batches.flatMap(\.labels) == a.map { Int32($0 % 10) })
        // Pinned: the algorithm is ours, so the order must not change across Swift versions.
        var rng = SeededGenerator(seed: 1)
        #expect(Shuffle.permuted(Array(0..<8), using: &rng) == [2, 4, 3, 0, 6, 5, 1, 7])
    }

    @Test func seededGeneratorIsReproducible() {
        var a = SeededGenerator(seed: 42), b = SeededGenerator(seed: 42)
        #expect((0..<10).map { _ in a.next() } == (0..<10).map { _ in b.next() })
        var s0 = SeededGenerator(seed: 42, stream: 0), s1 = SeededGenerator(seed: 42, stream: 1)
        #expect(s0.next() != s1.next())
        var u = SeededGenerator(seed: 3)
        let xs = (0..<10_000).map { _ in u.uniform(-2, 2) }
        #expect(xs.allSatisfy { $0 >= -2 && $0 < 2 })
        #expect(abs(xs.reduce(0, +) / Float(xs.count)) < 0.1)
    }

    @Test func shiftAugmentationStaysWithinTwoPixels() throws {
        // One bright pixel per image at (y, x) = (10, 12) of 28x28; after the shift it must be within ±2.
        let n = 200
        var x = [Float](repeating: -1, count: n * 784)
        for i in 0..<n { x[i * 784 + 10 * 28 + 12] = 5 }
        let images = try Tensor(shape: [n, 1, 28, 28], scalars: x)
        var rng = SeededGenerator(seed: 9)
        let shifted = RandomShift(maxShift: 2, fill: -1).apply(images, using: &rng).scalars(as: Float.self)
        var seen = Set<[Int]>()
        for i in 0..<n {
            let img = Array(shifted[i * 784..<(i + 1) * 784])
            let hot = img.indices.filter { img[$0] == 5 }
            #expect(hot.count == 1)
            let dy = hot[0] / 28 - 10, dx = hot[0] % 28 - 12
            #expect(abs(dy) <= 2 && abs(dx) <= 2)
            #expect(img.filter { $0 == -1 }.count == 783)  // fill value, nothing else invented
            seen.insert([dy, dx])
        }
        #expect(seen.count == 25)  // every shift in [-2, 2]² occurs
        // Pixels shifted off the edge are replaced with the fill value.
        let edge = try Tensor(shape: [1, 1, 3, 3], scalars: [Float](repeating: 1, count: 9))
        var r2 = SeededGenerator(seed: 1)
        let out = RandomShift(maxShift: 2, fill: 0).apply(edge, using: &r2).scalars(as: Float.self)
        #expect(out.allSatisfy { $0 == 0 || $0 == 1 })
    }

    @Test func augmentedBatchesAreDeterministic() throws {
        let mnist = try MNIST(split: .test, directory: MNISTTests.dir, limit: 64)
        let a = mnist.batches(size: 16, shuffle: true, seed: 3, augmentation: .mnist).map(\.inputs)
        let b = mnist.batches(size: 16, shuffle: true, seed: 3, augmentation: .mnist).map(\.inputs)
        let plain = mnist.batches(size: 16, shuffle: true, seed: 3).map(\.inputs)
        #expect(a == b)
        #expect(a != plain)
        #expect(a.allSatisfy { $0.shape == [16, 1, 28, 28] })
        // The background stays the normalised black.
        let px = a[0].scalars(as: Float.self)
        #expect(px.min()! >= MNIST.normalizedBackground - 1e-6)
    }

    @Test func shiftAugmentationMovesEachImageByItsOffset() throws {
        // Distinct pixel values, so every output pixel tells where it came from.
        let (B, C, H, W) = (6, 2, 5, 7)
        let x = try Tensor(shape: [B, C, H, W], scalars: (0..<(B * C * H * W)).map { Float($0 + 1) })
        let source = try InMemoryBatchSource(inputs: x, labels: [Int32](repeating: 0, count: B), batchSize: B, shuffle: false)
        let shifted = try ShiftAugmentedSource(source, maxShift: 2, fill: -1, seed: 5).batch(0, epoch: 1).inputs.scalars(as: Float.self)
        let original = x.scalars(as: Float.self)
        for n in 0..<B {
            // The offset of image n: the one shift that explains every in-range pixel of it.
            var found = false
            for dy in -2...2 { for dx in -2...2 where !found {
                var ok = true
                for c in 0..<C { for y in 0..<H { for xx in 0..<W {
                    let sy = y - dy, sx = xx - dx, i = ((n * C + c) * H + y) * W + xx
                    let want: Float = sy >= 0 && sy < H && sx >= 0 && sx < W ? original[((n * C + c) * H + sy) * W + sx] : -1
                    if shifted[i] != want { ok = false }
                } } }
                found = ok
            } }
            #expect(found, "image \(n) is not a shifted copy of its input")
        }
    }

    @Test func npyDataset() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("frugal-npy-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        let images = try Tensor(shape: [3, 2, 2], scalars: [UInt8](0..<12).map { $0 * 20 })
        let labels = try Tensor(shape: [3], scalars: [Int64(2), 0, 1])
        try NPY.write(images, path: dir.appendingPathComponent("images.npy").path)
        try NPY.write(labels, path: dir.appendingPathComponent("labels.npy").path)
        let d = try NPYDataset(images: dir.appendingPathComponent("images.npy").path,
                               labels: dir.appendingPathComponent("labels.npy").path)
        #expect(d.count == 3)
        let b = d.batch([2, 0])
        #expect(b.inputs.shape == [2, 2, 2])
        #expect(b.labels == [1, 2])
        #expect(abs(b.inputs[floatAt: 0] - 160 / 255) < 1e-6)
        // Count mismatch names the labels file.
        try NPY.write(try Tensor(shape: [2], scalars: [Int64(0), 1]), path: dir.appendingPathComponent("short.npy").path)
        #expect(throws: TrainingError.self) {
            _ = try NPYDataset(images: dir.appendingPathComponent("images.npy").path,
                               labels: dir.appendingPathComponent("short.npy").path)
        }
        do {
            _ = try NPYDataset(images: dir.appendingPathComponent("images.npy").path, labels: dir.appendingPathComponent("short.npy").path)
        } catch let TrainingError.data(path, reason) {
            #expect(path.hasSuffix("short.npy"))
            #expect(reason.contains("2 labels but"))
        }
    }

    @Test func tensorDatasetValidates() throws {
        #expect(throws: TrainingError.self) {
            _ = try TensorDataset(inputs: Tensor(zeros: [3, 2]), labels: [0, 1])
        }
        #expect(throws: TrainingError.self) {
            _ = try TensorDataset(inputs: Tensor(zeros: [3, 2]), labels: [0, -1, 2])
        }
        #expect(throws: TrainingError.self) {
            _ = try TensorDataset(inputs: Tensor(zeros: [3, 2], dtype: .int32), labels: [0, 1, 2])
        }
    }

    @Test func batchSourceServesEpochsByIndex() throws {
        let d = try toy(10)
        let src = try DatasetBatchSource(d, batchSize: 4, shuffle: true, seed: 5)
        #expect(src.batchCount == 3)
        #expect(try DatasetBatchSource(d, batchSize: 4, dropLast: true).batchCount == 2)
        let e0 = try (0..<3).map { try src.batch($0, epoch: 0) }
        let e1 = try (0..<3).map { try src.batch($0, epoch: 1) }
        #expect(e0.map(\.count) == [4, 4, 2])
        #expect(e0.flatMap(\.labels).sorted() == (0..<10).map(Int32.init))
        #expect(e0.flatMap(\.labels) != e1.flatMap(\.labels))
        // Random access gives what the epoch's sequence gives, in any order of calls.
        #expect(try src.batch(1, epoch: 0).labels == e0[1].labels)
        #expect(e0.map(\.labels) == d.batches(size: 4, shuffle: true, seed: 5, epoch: 0).map(\.labels))
        #expect(throws: TrainingError.self) { _ = try src.batch(3, epoch: 0) }
        #expect(throws: TrainingError.self) { _ = try DatasetBatchSource(d, batchSize: 0) }
    }
}
