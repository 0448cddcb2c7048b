// TEMPORARY stand-in for the model zoo and MNIST reader of branch train-data (Zoo.build,
// MNIST(split:)); delete once they are in main. Reads uncompressed IDX files from
// FRUGAL_MNIST_DIR and builds lenet-300-100 and lenet-5 like the zoo does.
import Foundation
import FrugalCore
import FrugalEngine
import FrugalTraining

enum StandInZoo {
    static func build(_ name: String, seed: UInt64) throws -> Graph {
        var rng = SystemRandomNumberGeneratorSeeded(seed: seed)
        var b = GraphBuilder(name: name)
        let x = b.input("input", dtype: .float32, shape: [.symbolic("N"), .fixed(1), .fixed(28), .fixed(28)])
        func param(_ n: String, _ dims: [Int], fanIn: Int) throws -> String {
            let bound = Float(1 / Double(fanIn).squareRoot())
            let v = (0..<dims.reduce(1, *)).map { _ in Float.random(in: -bound..<bound, using: &rng) }
            return b.initializer(n, try Tensor(shape: Shape(dims), scalars: v), trainable: true)
        }
        func linear(_ v: String, _ i: Int, _ o: Int, _ n: String) throws -> String {
            b.node("Gemm", [v, try param(n + ".weight", [o, i], fanIn: i), try param(n + ".bias", [o], fanIn: i)], attributes: ["transB": .int(1)])
        }
        var v: String
        switch name {
        case "lenet-300-100":
            v = b.node("Flatten", [x])
            v = b.node("Relu", [try linear(v, 784, 300, "fc1")])
            v = b.node("Relu", [try linear(v, 300, 100, "fc2")])
            v = try linear(v, 100, 10, "fc3")
        case "lenet-5":
            v = b.node("Conv", [x, try param("conv1.weight", [20, 1, 5, 5], fanIn: 25), try param("conv1.bias", [20], fanIn: 25)])
            v = b.node("MaxPool", [v], attributes: ["kernel_shape": .ints([2, 2]), "strides": .ints([2, 2])])
            v = b.node("Conv", [v, try param("conv2.weight", [50, 20, 5, 5], fanIn: 500), try param("conv2.bias", [50], fanIn: 500)])
            v = b.node("MaxPool", [v], attributes: ["kernel_shape": .ints([2, 2]), "strides": .ints([2, 2])])
            v = b.node("Relu", [try linear(b.node("Flatten", [v]), 800, 500, "fc1")])
            v = try linear(v, 500, 10, "fc2")
        default: throw TrainingError.model("unknown model '\(name)'; known: lenet-300-100, lenet-5")
        }
        b.output(v, dtype: .float32, shape: [.symbolic("N"), .fixed(10)])
        return b.graph
    }
}

struct SystemRandomNumberGeneratorSeeded: RandomNumberGenerator {
    var state: UInt64
    init(seed: UInt64) { state = seed }
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}

enum StandInMNIST {
    static let mean: Float = 0.1307, std: Float = 0.3081

    /// Normalised images [N, 1, 28, 28] and labels of a split ("train" or "t10k").
    static func load(_ stem: String) throws -> (images: Tensor, labels: [Int32]) {
        let dir = ProcessInfo.processInfo.environment["FRUGAL_MNIST_DIR"] ?? "data/mnist"
        let ip = dir + "/\(stem)-images-idx3-ubyte", lp = dir + "/\(stem)-labels-idx1-ubyte"
        guard let img = FileManager.default.contents(atPath: ip), let lab = FileManager.default.contents(atPath: lp) else {
            throw TrainingError.data(path: ip, reason: "missing (uncompressed IDX files expected in FRUGAL_MNIST_DIR)")
        }
        let n = lab.count - 8
        let px = Array(img.dropFirst(16))
        let images = try Tensor(shape: [n, 1, 28, 28], scalars: px.map { (Float($0) / 255 - mean) / std })
        return (images, lab.dropFirst(8).map { Int32($0) })
    }
}
