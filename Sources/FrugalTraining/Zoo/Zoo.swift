import FrugalCore
import FrugalEngine
import Foundation

/// Published size figures a zoo model is checked against.
public struct PaperFigures: Sendable, Hashable {
    public var parameters: Int
    public var macs: Int
    public var source: String
}

/// A model of the zoo: its name, input shape per example and builder. Every model outputs
/// logits [N, classes] (no softmax) from one float32 input named "input".
public struct ZooModel: Sendable {
    public let name: String
    public let summary: String
    /// Per-example input shape, e.g. [1, 28, 28] or [3, 224, 224].
    public let inputDims: [Int]
    public let classes: Int
    public let paper: PaperFigures?
    private let make: @Sendable (UInt64) throws -> Graph

    public init(name: String, summary: String, inputDims: [Int], classes: Int, paper: PaperFigures? = nil,
                build: @escaping @Sendable (UInt64) throws -> Graph) {
        self.name = name
        self.summary = summary
        self.inputDims = inputDims
        self.classes = classes
        self.paper = paper
        self.make = build
    }

    /// The graph with weights initialised from `seed`.
    public func build(seed: UInt64 = 0) throws -> Graph { try make(seed) }
}

/// The model zoo: MNIST baselines from the compression literature and the mobile ImageNet
/// networks, as graphs built from ``Layer``s.
public enum Zoo {
    public static let models: [ZooModel] = [
        ZooModel(name: "lenet-300-100", summary: "MLP 784-300-100-10 with ReLU (LeCun et al. 1998; Deep Compression's MNIST baseline)",
                 inputDims: [1, 28, 28], classes: 10,
                 paper: PaperFigures(parameters: 266_610, macs: 266_200, source: "784·300 + 300·100 + 100·10 weights plus 410 biases")) { seed in
            try MNISTModels.mlp(name: "lenet-300-100", hidden: [300, 100], dropout: nil, seed: seed)
        },
        ZooModel(name: "lenet-5", summary: "Caffe LeNet-5: conv 20@5x5, maxpool 2, conv 50@5x5, maxpool 2, fc 500 + ReLU, fc 10 (Deep Compression)",
                 inputDims: [1, 28, 28], classes: 10,
                 paper: PaperFigures(parameters: 431_080, macs: 2_293_000, source: "Han et al. 2016, Deep Compression, Table 2 (431K weights)")) { seed in
            try MNISTModels.lenet5(seed: seed)
        },
        ZooModel(name: "mlp-1200", summary: "MLP 784-1200-1200-10, ReLU, dropout 0.2 on inputs and 0.5 on hidden units (Hinton et al. 2012; distillation's teacher)",
                 inputDims: [1, 28, 28], classes: 10) { seed in
            try MNISTModels.mlp(name: "mlp-1200", hidden: [1200, 1200], dropout: (0.2, 0.5), seed: seed)
        },
        ZooModel(name: "mlp-800", summary: "MLP 784-800-800-10 with ReLU (Simard et al. 2003; distillation's student)",
                 inputDims: [1, 28, 28], classes: 10) { seed in
            try MNISTModels.mlp(name: "mlp-800", hidden: [800, 800], dropout: nil, seed: seed)
        },
        ZooModel(name: "mobilenet-mnist", summary: "small MobileNet-style net for 28x28 digits: conv 16, four depthwise-separable blocks to 128 channels, global pool, fc 10",
                 inputDims: [1, 28, 28], classes: 10) { seed in
            try MNISTModels.mobileNetMNIST(seed: seed)
        },
        ZooModel(name: "mobilenet-v1", summary: "MobileNetV1 1.0-224 (Howard et al. 2017): depthwise-separable convolutions, BatchNorm, ReLU",
                 inputDims: [3, 224, 224], classes: 1000,
                 paper: PaperFigures(parameters: 4_200_000, macs: 569_000_000, source: "Howard et al. 2017, Table 8: 4.2M parameters, 569M mult-adds")) { seed in
            try MobileNetV1().build(seed: seed)
        },
        ZooModel(name: "mobilenet-v2", summary: "MobileNetV2 1.0-224 (Sandler et al. 2018) as in torchvision: inverted residuals, linear bottlenecks, ReLU6",
                 inputDims: [3, 224, 224], classes: 1000,
                 paper: PaperFigures(parameters: 3_504_872, macs: 300_000_000, source: "Sandler et al. 2018, Table 4: 3.4M parameters, 300M mult-adds; torchvision's count of this architecture: 3,504,872 parameters")) { seed in
            try MobileNetV2().build(seed: seed)
        },
        ZooModel(name: "efficientnet-b0", summary: "EfficientNet-B0 (Tan & Le 2019) as in torchvision: MBConv with squeeze-excitation, SiLU",
                 inputDims: [3, 224, 224], classes: 1000,
                 paper: PaperFigures(parameters: 5_300_000, macs: 390_000_000, source: "Tan & Le 2019, Table 2: 5.3M parameters, 0.39B FLOPs (multiply-adds)")) { seed in
            try EfficientNet().build(seed: seed)
        },
    ]

    public static var names: [String] { models.map(\.name) }

    public static func model(named name: String) throws -> ZooModel {
        guard let m = models.first(where: { $0.name == name.lowercased() }) else {
            throw TrainingError.model("no zoo model '\(name)'; the zoo has \(names.joined(separator: ", "))")
        }
        return m
    }

    /// Builds a zoo model by name with weights from `seed`.
    public static func build(_ name: String, seed: UInt64 = 0) throws -> Graph {
        try model(named: name).build(seed: seed)
    }
}

/// Rounds channels to a multiple of `divisor` without going more than 10% below `value`
/// (MobileNetV2's and EfficientNet's `_make_divisible`).
public func makeDivisible(_ value: Double, _ divisor: Int = 8, minimum: Int? = nil) -> Int {
    let minValue = minimum ?? divisor
    var v = max(minValue, Int(value + Double(divisor) / 2) / divisor * divisor)
    if Double(v) < 0.9 * value { v += divisor }
    return v
}

/// Repeats scaled by a depth multiplier: ceil(n · depth).
func scaledRepeats(_ n: Int, _ depth: Double) -> Int { max(1, Int((Double(n) * depth).rounded(.up))) }

func checkMultipliers(_ model: String, width: Double, depth: Double, resolution: Int, classes: Int) throws {
    guard width > 0, depth > 0 else { throw TrainingError.model("\(model): width and depth multipliers must be positive, got \(width) and \(depth)") }
    guard resolution >= 32 else { throw TrainingError.model("\(model): resolution \(resolution) is below 32 pixels (the network downsamples by 32)") }
    guard classes >= 1 else { throw TrainingError.model("\(model): needs at least one class, got \(classes)") }
}

/// Conv (no bias) + BatchNorm + optional activation.
struct ConvBN: Layer {
    var conv: Conv2D
    var epsilon: Float = 1e-5
    var activation: Activation?

    init(_ inC: Int, _ outC: Int, kernel: Int, stride: Int = 1, groups: Int = 1, epsilon: Float = 1e-5,
         activation: Activation?, name: String) {
        conv = Conv2D(inC, outC, kernel: kernel, stride: stride, padding: (kernel - 1) / 2, groups: groups, bias: false,
                      name: name + ".conv")
        self.epsilon = epsilon
        self.activation = activation
    }

    func build(_ x: Value, _ m: inout ModelBuilder) throws -> Value {
        var v = try m.apply(conv, x)
        v = try m.apply(BatchNorm(conv.outChannels, epsilon: epsilon, name: conv.name!.replacingOccurrences(of: ".conv", with: ".bn")), v)
        if let a = activation { v = try m.apply(a, v) }
        return v
    }
}

/// Classifier head shared by the ImageNet models: GlobalAveragePool, Flatten, Dropout, Linear.
func classifierHead(_ x: Value, _ m: inout ModelBuilder, classes: Int, dropout: Float) throws -> Value {
    var v = try m.apply([GlobalAveragePool(), Flatten()], x)
    if dropout > 0 { v = try m.apply(Dropout(dropout), v) }
    return try m.apply(Linear(v.dims[0], classes, name: "classifier"), v)
}

func finishModel(_ m: inout ModelBuilder, _ v: Value, zooName: String) -> Graph {
    m.output(v)
    m.builder.setMetadata("frugal.zoo.model", zooName)
    return m.finish()
}

enum MNISTModels {
    static func mlp(name: String, hidden: [Int], dropout: (input: Float, hidden: Float)?, seed: UInt64) throws -> Graph {
        var m = ModelBuilder(name: name, seed: seed)
        var v = try m.apply(Flatten(), m.input("input", dims: [1, 28, 28]))
        if let d = dropout { v = try m.apply(Dropout(d.input), v) }
        for (i, h) in hidden.enumerated() {
            v = try m.apply([Linear(v.dims[0], h, name: "fc\(i + 1)"), Activation.relu], v)
            if let d = dropout { v = try m.apply(Dropout(d.hidden), v) }
        }
        v = try m.apply(Linear(v.dims[0], 10, name: "fc\(hidden.count + 1)"), v)
        return finishModel(&m, v, zooName: name)
    }

    static func lenet5(seed: UInt64) throws -> Graph {
        var m = ModelBuilder(name: "lenet-5", seed: seed)
        let v = try m.apply([
            Conv2D(1, 20, kernel: 5, name: "conv1"), Pool2D.max(2),
            Conv2D(20, 50, kernel: 5, name: "conv2"), Pool2D.max(2),
            Flatten(), Linear(800, 500, name: "fc1"), Activation.relu, Linear(500, 10, name: "fc2"),
        ], m.input("input", dims: [1, 28, 28]))
        return finishModel(&m, v, zooName: "lenet-5")
    }

    static func mobileNetMNIST(seed: UInt64) throws -> Graph {
        var m = ModelBuilder(name: "mobilenet-mnist", seed: seed)
        var v = try m.apply(ConvBN(1, 16, kernel: 3, activation: .relu, name: "stem"), m.input("input", dims: [1, 28, 28]))
        for (i, (out, stride)) in [(32, 2), (64, 2), (64, 1), (128, 1)].enumerated() {
            let c = v.dims[0]
            v = try m.apply([
                ConvBN(c, c, kernel: 3, stride: stride, groups: c, activation: .relu, name: "block\(i + 1).dw"),
                ConvBN(c, out, kernel: 1, activation: .relu, name: "block\(i + 1).pw"),
            ], v)
        }
        v = try classifierHead(v, &m, classes: 10, dropout: 0)
        return finishModel(&m, v, zooName: "mobilenet-mnist")
    }
}

/// MobileNetV1 (Howard et al. 2017) with width (α), depth and resolution (ρ·224) multipliers.
/// Channels are max(8, ⌊c·α⌋) as in TF-Slim; the depth multiplier scales the five 512-channel
/// blocks (and every other stage) to ⌈n·depth⌉ blocks.
public struct MobileNetV1: Sendable {
    public var width: Double
    public var depth: Double
    public var resolution: Int
    public var classes: Int
    public var dropout: Float

    public init(width: Double = 1, depth: Double = 1, resolution: Int = 224, classes: Int = 1000, dropout: Float = 0.001) {
        self.width = width
        self.depth = depth
        self.resolution = resolution
        self.classes = classes
        self.dropout = dropout
    }

    public func build(seed: UInt64 = 0) throws -> Graph {
        try checkMultipliers("mobilenet-v1", width: width, depth: depth, resolution: resolution, classes: classes)
        func ch(_ c: Int) -> Int { max(8, Int(Double(c) * width)) }
        var m = ModelBuilder(name: "mobilenet-v1", seed: seed)
        var v = try m.apply(ConvBN(3, ch(32), kernel: 3, stride: 2, activation: .relu, name: "stem"),
                            m.input("input", dims: [3, resolution, resolution]))
        let stages: [(c: Int, s: Int, n: Int)] = [(64, 1, 1), (128, 2, 1), (128, 1, 1), (256, 2, 1), (256, 1, 1),
                                                  (512, 2, 1), (512, 1, 5), (1024, 2, 1), (1024, 1, 1)]
        var block = 0
        for st in stages {
            for r in 0..<scaledRepeats(st.n, depth) {
                block += 1
                let c = v.dims[0]
                v = try m.apply([
                    ConvBN(c, c, kernel: 3, stride: r == 0 ? st.s : 1, groups: c, activation: .relu, name: "block\(block).dw"),
                    ConvBN(c, ch(st.c), kernel: 1, activation: .relu, name: "block\(block).pw"),
                ], v)
            }
        }
        v = try classifierHead(v, &m, classes: classes, dropout: dropout)
        return finishModel(&m, v, zooName: "mobilenet-v1")
    }
}

/// MobileNetV2 (Sandler et al. 2018) as torchvision builds it, with width, depth (⌈n·depth⌉
/// blocks per stage) and resolution multipliers.
public struct MobileNetV2: Sendable {
    public var width: Double
    public var depth: Double
    public var resolution: Int
    public var classes: Int
    public var dropout: Float

    public init(width: Double = 1, depth: Double = 1, resolution: Int = 224, classes: Int = 1000, dropout: Float = 0.2) {
        self.width = width
        self.depth = depth
        self.resolution = resolution
        self.classes = classes
        self.dropout = dropout
    }

    public func build(seed: UInt64 = 0) throws -> Graph {
        try checkMultipliers("mobilenet-v2", width: width, depth: depth, resolution: resolution, classes: classes)
        var m = ModelBuilder(name: "mobilenet-v2", seed: seed)
        var v = try m.apply(ConvBN(3, makeDivisible(32 * width), kernel: 3, stride: 2, activation: .relu6, name: "stem"),
                            m.input("input", dims: [3, resolution, resolution]))
        let settings: [(t: Int, c: Int, n: Int, s: Int)] = [(1, 16, 1, 1), (6, 24, 2, 2), (6, 32, 3, 2), (6, 64, 4, 2),
                                                            (6, 96, 3, 1), (6, 160, 3, 2), (6, 320, 1, 1)]
        var block = 0
        for st in settings {
            let out = makeDivisible(Double(st.c) * width)
            for r in 0..<scaledRepeats(st.n, depth) {
                block += 1
                let inC = v.dims[0], stride = r == 0 ? st.s : 1
                let hidden = Int((Double(inC) * Double(st.t)).rounded())
                let p = "block\(block)"
                var h = v
                if st.t != 1 { h = try m.apply(ConvBN(inC, hidden, kernel: 1, activation: .relu6, name: "\(p).expand"), h) }
                h = try m.apply([
                    ConvBN(hidden, hidden, kernel: 3, stride: stride, groups: hidden, activation: .relu6, name: "\(p).dw"),
                    ConvBN(hidden, out, kernel: 1, activation: nil, name: "\(p).project"),
                ], h)
                v = stride == 1 && inC == out ? try m.add(v, h, name: "\(p).add") : h
            }
        }
        v = try m.apply(ConvBN(v.dims[0], makeDivisible(1280 * max(1, width)), kernel: 1, activation: .relu6, name: "head"), v)
        v = try classifierHead(v, &m, classes: classes, dropout: dropout)
        return finishModel(&m, v, zooName: "mobilenet-v2")
    }
}

/// EfficientNet (Tan & Le 2019) as torchvision builds it. B0 is width = depth = 1 at 224;
/// ``compound(phi:classes:)`` scales depth by α^φ (α = 1.2), width by β^φ (β = 1.1) and
/// resolution by γ^φ (γ = 1.15).
public struct EfficientNet: Sendable {
    public static let alpha = 1.2
    public static let beta = 1.1
    public static let gamma = 1.15

    public var width: Double
    public var depth: Double
    public var resolution: Int
    public var classes: Int
    public var dropout: Float

    public init(width: Double = 1, depth: Double = 1, resolution: Int = 224, classes: Int = 1000, dropout: Float = 0.2) {
        self.width = width
        self.depth = depth
        self.resolution = resolution
        self.classes = classes
        self.dropout = dropout
    }

    /// Compound scaling of B0 by coefficient φ.
    public static func compound(phi: Double, classes: Int = 1000) -> EfficientNet {
        EfficientNet(width: pow(beta, phi), depth: pow(alpha, phi),
                     resolution: Int((224 * pow(gamma, phi)).rounded()), classes: classes)
    }

    /// The published B0-B7 (width, depth, resolution), which round the compound rule.
    public static let variants: [(width: Double, depth: Double, resolution: Int)] = [
        (1.0, 1.0, 224), (1.0, 1.1, 240), (1.1, 1.2, 260), (1.2, 1.4, 300),
        (1.4, 1.8, 380), (1.6, 2.2, 456), (1.8, 2.6, 528), (2.0, 3.1, 600),
    ]

    /// EfficientNet-B`index` (0...7) with its published multipliers.
    public static func b(_ index: Int, classes: Int = 1000) throws -> EfficientNet {
        guard variants.indices.contains(index) else { throw TrainingError.model("EfficientNet-B\(index) does not exist; B0-B7 do") }
        let v = variants[index]
        return EfficientNet(width: v.width, depth: v.depth, resolution: v.resolution, classes: classes)
    }

    public func build(seed: UInt64 = 0) throws -> Graph {
        try checkMultipliers("efficientnet", width: width, depth: depth, resolution: resolution, classes: classes)
        func ch(_ c: Int) -> Int { makeDivisible(Double(c) * width) }
        let eps: Float = 1e-3
        var m = ModelBuilder(name: "efficientnet", seed: seed)
        var v = try m.apply(ConvBN(3, ch(32), kernel: 3, stride: 2, epsilon: eps, activation: .silu, name: "stem"),
                            m.input("input", dims: [3, resolution, resolution]))
        // (expand ratio, kernel, stride, output channels, repeats)
        let stages: [(e: Int, k: Int, s: Int, c: Int, n: Int)] = [
            (1, 3, 1, 16, 1), (6, 3, 2, 24, 2), (6, 5, 2, 40, 2), (6, 3, 2, 80, 3),
            (6, 5, 1, 112, 3), (6, 5, 2, 192, 4), (6, 3, 1, 320, 1),
        ]
        var block = 0
        for st in stages {
            let out = ch(st.c)
            for r in 0..<scaledRepeats(st.n, depth) {
                block += 1
                let inC = v.dims[0], stride = r == 0 ? st.s : 1
                let expanded = makeDivisible(Double(inC * st.e))
                let p = "block\(block)"
                var h = v
                if expanded != inC { h = try m.apply(ConvBN(inC, expanded, kernel: 1, epsilon: eps, activation: .silu, name: "\(p).expand"), h) }
                h = try m.apply([
                    ConvBN(expanded, expanded, kernel: st.k, stride: stride, groups: expanded, epsilon: eps, activation: .silu, name: "\(p).dw"),
                    SqueezeExcitation(expanded, squeeze: max(1, inC / 4), activation: .silu, gate: .sigmoid, name: "\(p).se"),
                    ConvBN(expanded, out, kernel: 1, epsilon: eps, activation: nil, name: "\(p).project"),
                ], h)
                v = stride == 1 && inC == out ? try m.add(v, h, name: "\(p).add") : h
            }
        }
        v = try m.apply(ConvBN(v.dims[0], 4 * v.dims[0], kernel: 1, epsilon: eps, activation: .silu, name: "head"), v)
        v = try classifierHead(v, &m, classes: classes, dropout: dropout)
        return finishModel(&m, v, zooName: "efficientnet")
    }
}
