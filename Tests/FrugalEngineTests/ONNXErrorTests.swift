import Foundation
import FrugalCore
import FrugalEngine
import FrugalONNX
import Testing

/// Bad input gets a clear error, never a crash: truncated and bit-flipped files, absurd
/// initializer sizes, unknown ops, wrong input shapes.
@Suite struct ONNXErrorTests {
    /// A tiny valid model: y = Identity(x), x float32 [2, 3].
    func tinyModel() throws -> Data {
        let g = Graph(name: "tiny", nodes: [Node(name: "id", opType: "Identity", inputs: ["x"], outputs: ["y"])],
                      inputs: [ValueInfo(name: "x", dtype: .float32, shape: [.fixed(2), .fixed(3)])],
                      outputs: [ValueInfo(name: "y", dtype: .float32, shape: [.fixed(2), .fixed(3)])],
                      initializers: ["w": try Tensor(shape: [4], scalars: [1, 2, 3, 4] as [Float])])
        return try ONNXExporter.encode(g)
    }

    @Test func truncatedFilesAreMalformed() throws {
        let data = try tinyModel()
        for cut in [1, 5, data.count / 2, data.count - 1] {
            #expect(throws: ONNXError.self, "cut at \(cut)") { try ONNXImporter.decode(data.prefix(cut), path: "m.onnx") }
        }
        #expect(throws: ONNXError.self) { try ONNXImporter.decode(Data(), path: "empty.onnx") }
        #expect(throws: ONNXError.self) { try ONNXImporter.decode(Data("not a model at all".utf8), path: "text.onnx") }
    }

    @Test func bitFlippedFilesNeverCrash() throws {
        let data = try tinyModel()
        var errors = 0
        for position in 0..<data.count {
            for bit in [0, 3, 7] {
                var d = data
                d[d.startIndex + position] ^= UInt8(1 << bit)
                do {
                    let g = try ONNXImporter.decode(d, path: "flipped.onnx")
                    // If it still parses, running it must give a result or an error, not a crash.
                    if let s = try? Session(graph: g, options: SessionOptions(threads: 1)) {
                        _ = try? s.run(["x": try Tensor(zeros: [2, 3])])
                    }
                } catch is ONNXError {
                    errors += 1
                }
            }
        }
        #expect(errors > 0)
    }

    @Test func absurdInitializerIsRefusedBeforeAllocating() throws {
        // A 2^40-element float initializer with no data behind it.
        let data = try tinyModel()
        var g = try ONNXImporter.decode(data)
        g.initializers = [:]
        var bytes = try ONNXExporter.encode(g)
        bytes = try HugeInitializer.append(to: bytes, dims: [1 << 20, 1 << 20])
        do {
            _ = try ONNXImporter.decode(bytes, path: "huge.onnx")
            Issue.record("a 2^40-element initializer was accepted")
        } catch let e as ONNXError {
            #expect("\(e)".contains("huge"))
            #expect("\(e)".contains("refusing before allocating") || "\(e)".contains("bytes"))
        }
    }

    @Test func unknownOpsAreListedAllAtOnce() throws {
        let g = Graph(nodes: [Node(name: "a", opType: "FooBar", inputs: ["x"], outputs: ["t"]),
                              Node(name: "b", opType: "BazQux", inputs: ["t"], outputs: ["u"]),
                              Node(name: "c", opType: "FooBar", inputs: ["u"], outputs: ["y"])],
                      inputs: [ValueInfo(name: "x", dtype: .float32, shape: [.fixed(1)])],
                      outputs: [ValueInfo(name: "y", dtype: .float32, shape: nil)])
        do {
            _ = try Session(graph: g)
            Issue.record("unknown ops accepted")
        } catch let e as EngineError {
            let text = "\(e)"
            #expect(text.contains("FooBar (2 nodes)") && text.contains("BazQux (1 node)"), "\(text)")
        }
    }

    @Test func wrongInputShapeAndTypeAreErrors() throws {
        let g = try ONNXImporter.decode(try tinyModel())
        let s = try Session(graph: g, options: SessionOptions(threads: 1))
        #expect(try s.run(["x": try Tensor(zeros: [2, 3])])[0].shape == [2, 3])
        for bad in [try Tensor(zeros: [3, 2]), try Tensor(zeros: [6]), try Tensor(zeros: [2, 3], dtype: .int32)] {
            do {
                _ = try s.run(["x": bad])
                Issue.record("accepted \(bad.shape) \(bad.dtype)")
            } catch let e as EngineError {
                #expect("\(e)".contains("input 'x'"))
            }
        }
        #expect(throws: EngineError.self) { try s.run([:]) }
        #expect(throws: EngineError.self) { try s.run(["x": try Tensor(zeros: [2, 3]), "nope": try Tensor(zeros: [1])]) }
    }

    @Test func graphStructureErrors() throws {
        // A cycle, and a value nobody produces.
        let cyclic = Graph(nodes: [Node(name: "a", opType: "Identity", inputs: ["b_out"], outputs: ["a_out"]),
                                   Node(name: "b", opType: "Identity", inputs: ["a_out"], outputs: ["b_out"])],
                           outputs: [ValueInfo(name: "a_out", dtype: .float32, shape: nil)])
        #expect(throws: EngineError.self) { try Session(graph: cyclic) }
        let dangling = Graph(nodes: [Node(name: "a", opType: "Identity", inputs: ["ghost"], outputs: ["y"])],
                             outputs: [ValueInfo(name: "y", dtype: .float32, shape: nil)])
        #expect(throws: EngineError.self) { try Session(graph: dangling) }
    }
}

/// Appends a raw protobuf initializer (GraphProto field 5 inside ModelProto field 7) with the
/// given dims, float type and no data, without building the tensor in memory.
enum HugeInitializer {
    static func varint(_ v: UInt64) -> [UInt8] {
        var v = v, out: [UInt8] = []
        repeat {
            var b = UInt8(v & 0x7F)
            v >>= 7
            if v != 0 { b |= 0x80 }
            out.append(b)
        } while v != 0
        return out
    }

    static func append(to model: Data, dims: [Int]) throws -> Data {
        var tensor: [UInt8] = []
        for d in dims { tensor += [0x08] + varint(UInt64(d)) }  // dims (field 1)
        tensor += [0x10, 0x01]  // data_type = FLOAT (field 2)
        let name = Array("huge".utf8)
        tensor += [0x42] + varint(UInt64(name.count)) + name  // name (field 8)
        let initializer: [UInt8] = [0x2A] + varint(UInt64(tensor.count)) + tensor  // GraphProto.initializer (5)
        let graph: [UInt8] = [0x3A] + varint(UInt64(initializer.count)) + initializer  // ModelProto.graph (7), merged
        var d = model
        d.append(contentsOf: graph)
        return d
    }
}
