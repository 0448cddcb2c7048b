import FrugalCore
import FrugalEngine

/// Fully connected layer: Gemm(x, W, b) with transB = 1 and W [out, in] like PyTorch's Linear.
public struct Linear: Layer {
    public var inFeatures: Int
    public var outFeatures: Int
    public var bias: Bool
    public var initialization: WeightInit
    public var name: String?

    public init(_ inFeatures: Int, _ outFeatures: Int, bias: Bool = true, initialization: WeightInit = .pytorch,
                name: String? = nil) {
        self.inFeatures = inFeatures
        self.outFeatures = outFeatures
        self.bias = bias
        self.initialization = initialization
        self.name = name
    }

    public func build(_ x: Value, _ m: inout ModelBuilder) throws -> Value {
        let p = m.scope(name, default: "linear")
        guard x.dims == [inFeatures] else {
            throw TrainingError.model("layer \(p) (Linear \(inFeatures)->\(outFeatures)) needs inputs [N, \(inFeatures)], got [N, \(x.dims.map(String.init).joined(separator: ", "))]; add a Flatten first")
        }
        let w = m.parameter("\(p).weight", shape: [outFeatures, inFeatures],
                            uniform: initialization.bound(fanIn: inFeatures, fanOut: outFeatures))
        var inputs = [x.name, w]
        if bias { inputs.append(m.parameter("\(p).bias", shape: [outFeatures], uniform: 1 / Float(inFeatures).squareRoot())) }
        return m.op("Gemm", inputs, dims: [outFeatures], name: p, attributes: ["transB": .int(1)])
    }
}

/// Output size of a convolution or pooling window along one axis.
func windowOutput(_ size: Int, kernel: Int, stride: Int, padding: Int, dilation: Int = 1) -> Int {
    (size + 2 * padding - dilation * (kernel - 1) - 1) / stride + 1
}

/// 2-D convolution over [N, C, H, W]: weight [out, in/groups, k, k]. `groups == in == out` is a
/// depthwise convolution.
public struct Conv2D: Layer {
    public var inChannels: Int
    public var outChannels: Int
    public var kernel: Int
    public var stride: Int
    public var padding: Int
    public var dilation: Int
    public var groups: Int
    public var bias: Bool
    public var initialization: WeightInit
    public var name: String?

    public init(_ inChannels: Int, _ outChannels: Int, kernel: Int, stride: Int = 1, padding: Int = 0,
                dilation: Int = 1, groups: Int = 1, bias: Bool = true, initialization: WeightInit = .pytorch,
                name: String? = nil) {
        self.inChannels = inChannels
        self.outChannels = outChannels
        self.kernel = kernel
        self.stride = stride
        self.padding = padding
        self.dilation = dilation
        self.groups = groups
        self.bias = bias
        self.initialization = initialization
        self.name = name
    }

    /// Depthwise convolution: one k×k filter per channel.
    public static func depthwise(_ channels: Int, kernel: Int, stride: Int = 1, padding: Int? = nil, bias: Bool = false,
                                 name: String? = nil) -> Conv2D {
        Conv2D(channels, channels, kernel: kernel, stride: stride, padding: padding ?? (kernel - 1) / 2,
               groups: channels, bias: bias, name: name)
    }

    public func build(_ x: Value, _ m: inout ModelBuilder) throws -> Value {
        let p = m.scope(name, default: "conv")
        guard x.dims.count == 3, x.dims[0] == inChannels else {
            throw TrainingError.model("layer \(p) (Conv2D \(inChannels)->\(outChannels)) needs inputs [N, \(inChannels), H, W], got [N, \(x.dims.map(String.init).joined(separator: ", "))]")
        }
        guard groups >= 1, inChannels % groups == 0, outChannels % groups == 0 else {
            throw TrainingError.model("layer \(p): groups \(groups) must divide both \(inChannels) input and \(outChannels) output channels")
        }
        let h = windowOutput(x.dims[1], kernel: kernel, stride: stride, padding: padding, dilation: dilation)
        let w = windowOutput(x.dims[2], kernel: kernel, stride: stride, padding: padding, dilation: dilation)
        guard h >= 1, w >= 1 else {
            throw TrainingError.model("layer \(p): a \(kernel)x\(kernel) kernel does not fit a \(x.dims[1])x\(x.dims[2]) input")
        }
        let fanIn = inChannels / groups * kernel * kernel
        let wt = m.parameter("\(p).weight", shape: [outChannels, inChannels / groups, kernel, kernel],
                             uniform: initialization.bound(fanIn: fanIn, fanOut: outChannels / groups * kernel * kernel))
        var inputs = [x.name, wt]
        if bias { inputs.append(m.parameter("\(p).bias", shape: [outChannels], uniform: 1 / Float(fanIn).squareRoot())) }
        var attrs: [String: AttributeValue] = [
            "kernel_shape": .ints([kernel, kernel]), "strides": .ints([stride, stride]),
            "pads": .ints([padding, padding, padding, padding]), "dilations": .ints([dilation, dilation]),
        ]
        if groups != 1 { attrs["group"] = .int(groups) }
        return m.op("Conv", inputs, dims: [outChannels, h, w], name: p, attributes: attrs)
    }
}

/// BatchNormalization over channels (axis 1): scale (γ = 1) and bias (β = 0) are trainable;
/// the running mean (0) and variance (1) are frozen initializers that training updates as
/// statistics. `momentum` is ONNX's (the running-average weight of the old value: PyTorch's
/// momentum 0.1 is ONNX's 0.9).
public struct BatchNorm: Layer {
    public var channels: Int
    public var epsilon: Float
    public var momentum: Float
    public var name: String?

    public init(_ channels: Int, epsilon: Float = 1e-5, momentum: Float = 0.9, name: String? = nil) {
        self.channels = channels
        self.epsilon = epsilon
        self.momentum = momentum
        self.name = name
    }

    public func build(_ x: Value, _ m: inout ModelBuilder) throws -> Value {
        let p = m.scope(name, default: "bn")
        guard x.dims.first == channels else {
            throw TrainingError.model("layer \(p) (BatchNorm \(channels)) needs \(channels) channels, got input \(x.dims)")
        }
        let scale = m.parameter("\(p).weight", shape: [channels], filled: 1)
        let bias = m.parameter("\(p).bias", shape: [channels], filled: 0)
        let mean = m.constant("\(p).running_mean", try Tensor(zeros: [channels]))
        let variance = m.constant("\(p).running_var", try Tensor(shape: [channels], scalars: [Float](repeating: 1, count: channels)))
        return m.op("BatchNormalization", [x.name, scale, bias, mean, variance], dims: x.dims, name: p,
                    attributes: ["epsilon": .float(epsilon), "momentum": .float(momentum)])
    }
}

/// LayerNormalization over the last `normalizedShape.count` axes (opset 17), with trainable
/// scale (1) and bias (0) of that shape.
public struct LayerNorm: Layer {
    public var normalizedShape: [Int]
    public var epsilon: Float
    public var name: String?

    public init(_ normalizedShape: [Int], epsilon: Float = 1e-5, name: String? = nil) {
        self.normalizedShape = normalizedShape
        self.epsilon = epsilon
        self.name = name
    }

    public func build(_ x: Value, _ m: inout ModelBuilder) throws -> Value {
        let p = m.scope(name, default: "ln")
        guard m.opset >= 17 else { throw TrainingError.model("layer \(p): LayerNormalization needs opset 17 or later, the graph has \(m.opset)") }
        guard x.dims.suffix(normalizedShape.count).elementsEqual(normalizedShape) else {
            throw TrainingError.model("layer \(p) (LayerNorm \(normalizedShape)) does not match the trailing axes of input \(x.dims)")
        }
        let scale = m.parameter("\(p).weight", shape: normalizedShape, filled: 1)
        let bias = m.parameter("\(p).bias", shape: normalizedShape, filled: 0)
        return m.op("LayerNormalization", [x.name, scale, bias], dims: x.dims, name: p,
                    attributes: ["axis": .int(-normalizedShape.count), "epsilon": .float(epsilon)])
    }
}

/// Elementwise activations (and Softmax).
public enum Activation: Layer, Hashable {
    case relu
    /// min(max(x, 0), 6): Clip with min and max inputs.
    case relu6
    /// PyTorch's hardsigmoid, relu6(x + 3) / 6: HardSigmoid with alpha 1/6, beta 0.5.
    case hardSigmoid
    /// x · hardsigmoid(x): HardSwish (opset 14+).
    case hardSwish
    case sigmoid
    case tanh
    /// x · sigmoid(x) (Swish): Mul(x, Sigmoid(x)).
    case silu
    /// Exact GELU: the Gelu op from opset 20, else 0.5·x·(1 + erf(x/√2)) with Erf.
    case gelu
    case leakyReLU(alpha: Float = 0.01)
    /// Softmax along `axis` (per-example axes are counted after the batch: -1 is the last).
    case softmax(axis: Int = -1)

    public func build(_ x: Value, _ m: inout ModelBuilder) throws -> Value {
        switch self {
        case .relu: return m.op("Relu", [x.name], dims: x.dims)
        case .relu6: return m.op("Clip", [x.name, m.scalar(0), m.scalar(6)], dims: x.dims, name: "relu6")
        case .hardSigmoid:
            return m.op("HardSigmoid", [x.name], dims: x.dims, attributes: ["alpha": .float(1.0 / 6), "beta": .float(0.5)])
        case .hardSwish:
            if m.opset >= 14 { return m.op("HardSwish", [x.name], dims: x.dims) }
            let s = try Activation.hardSigmoid.build(x, &m)
            return m.op("Mul", [x.name, s.name], dims: x.dims, name: "hardswish")
        case .sigmoid: return m.op("Sigmoid", [x.name], dims: x.dims)
        case .tanh: return m.op("Tanh", [x.name], dims: x.dims)
        case .silu:
            let s = m.op("Sigmoid", [x.name], dims: x.dims)
            return m.op("Mul", [x.name, s.name], dims: x.dims, name: "silu")
        case .gelu:
            if m.opset >= 20 { return m.op("Gelu", [x.name], dims: x.dims) }
            let scaled = m.op("Div", [x.name, m.scalar(Float(2).squareRoot())], dims: x.dims, name: "gelu_div")
            let e = m.op("Erf", [scaled.name], dims: x.dims, name: "gelu_erf")
            let onePlus = m.op("Add", [e.name, m.scalar(1)], dims: x.dims, name: "gelu_add")
            let prod = m.op("Mul", [x.name, onePlus.name], dims: x.dims, name: "gelu_mul")
            return m.op("Mul", [prod.name, m.scalar(0.5)], dims: x.dims, name: "gelu")
        case .leakyReLU(let alpha): return m.op("LeakyRelu", [x.name], dims: x.dims, attributes: ["alpha": .float(alpha)])
        case .softmax(let axis):
            let rank = x.dims.count + 1
            let a = axis < 0 ? axis : axis + 1  // per-example axis -> graph axis
            guard a >= -rank + 1 && a < rank else { throw TrainingError.model("softmax axis \(axis) out of range for \(x.dims)") }
            return m.op("Softmax", [x.name], dims: x.dims, attributes: ["axis": .int(a)])
        }
    }
}

/// Max or average pooling over square windows of [N, C, H, W].
public struct Pool2D: Layer {
    public enum Kind: Sendable { case max, average }
    public var kind: Kind
    public var kernel: Int
    public var stride: Int
    public var padding: Int

    public init(_ kind: Kind, kernel: Int, stride: Int? = nil, padding: Int = 0) {
        self.kind = kind
        self.kernel = kernel
        self.stride = stride ?? kernel
        self.padding = padding
    }

    public static func max(_ kernel: Int, stride: Int? = nil, padding: Int = 0) -> Pool2D { Pool2D(.max, kernel: kernel, stride: stride, padding: padding) }
    public static func average(_ kernel: Int, stride: Int? = nil, padding: Int = 0) -> Pool2D { Pool2D(.average, kernel: kernel, stride: stride, padding: padding) }

    public func build(_ x: Value, _ m: inout ModelBuilder) throws -> Value {
        guard x.dims.count == 3 else { throw TrainingError.model("pooling needs [N, C, H, W] inputs, got [N] + \(x.dims)") }
        let h = windowOutput(x.dims[1], kernel: kernel, stride: stride, padding: padding)
        let w = windowOutput(x.dims[2], kernel: kernel, stride: stride, padding: padding)
        guard h >= 1, w >= 1 else { throw TrainingError.model("a \(kernel)x\(kernel) pooling window does not fit \(x.dims)") }
        var attrs: [String: AttributeValue] = [
            "kernel_shape": .ints([kernel, kernel]), "strides": .ints([stride, stride]),
            "pads": .ints([padding, padding, padding, padding]),
        ]
        if kind == .average && padding > 0 { attrs["count_include_pad"] = .int(0) }
        return m.op(kind == .max ? "MaxPool" : "AveragePool", [x.name], dims: [x.dims[0], h, w], attributes: attrs)
    }
}

/// Mean over H and W: [N, C, H, W] -> [N, C, 1, 1].
public struct GlobalAveragePool: Layer {
    public init() {}
    public func build(_ x: Value, _ m: inout ModelBuilder) throws -> Value {
        guard x.dims.count == 3 else { throw TrainingError.model("GlobalAveragePool needs [N, C, H, W] inputs, got [N] + \(x.dims)") }
        return m.op("GlobalAveragePool", [x.name], dims: [x.dims[0], 1, 1])
    }
}

/// [N, ...] -> [N, product of the rest].
public struct Flatten: Layer {
    public init() {}
    public func build(_ x: Value, _ m: inout ModelBuilder) throws -> Value {
        m.op("Flatten", [x.name], dims: [x.dims.reduce(1, *)], attributes: ["axis": .int(1)])
    }
}

/// Dropout with drop probability `rate` (the ratio input); at inference (training_mode
/// absent, so false) it passes values through.
public struct Dropout: Layer {
    public var rate: Float
    public init(_ rate: Float) { self.rate = rate }
    public func build(_ x: Value, _ m: inout ModelBuilder) throws -> Value {
        guard rate >= 0, rate < 1 else { throw TrainingError.model("dropout rate \(rate) must be in [0, 1)") }
        return m.op("Dropout", [x.name, m.scalar(rate)], dims: x.dims)
    }
}

/// Squeeze-and-excitation (Hu et al.): x · gate(conv(act(conv(GlobalAveragePool(x))))), with
/// 1×1 convolutions channels -> squeeze -> channels (with biases).
public struct SqueezeExcitation: Layer {
    public var channels: Int
    public var squeeze: Int
    public var activation: Activation
    public var gate: Activation
    public var name: String?

    public init(_ channels: Int, squeeze: Int, activation: Activation = .relu, gate: Activation = .sigmoid, name: String? = nil) {
        self.channels = channels
        self.squeeze = squeeze
        self.activation = activation
        self.gate = gate
        self.name = name
    }

    public func build(_ x: Value, _ m: inout ModelBuilder) throws -> Value {
        let p = m.scope(name, default: "se")
        var s = try m.apply(GlobalAveragePool(), x)
        s = try m.apply(Conv2D(channels, squeeze, kernel: 1, name: "\(p).fc1"), s)
        s = try m.apply(activation, s)
        s = try m.apply(Conv2D(squeeze, channels, kernel: 1, name: "\(p).fc2"), s)
        s = try m.apply(gate, s)
        return m.op("Mul", [x.name, s.name], dims: x.dims, name: p)
    }
}
