import Foundation
import FrugalCore
import Testing

@Suite struct NPYTests {
    let reference: [Float] = (0..<24).map { Float($0) * 0.5 - 3 }

    @Test(arguments: ["f32_c.npy", "f32_fortran.npy", "f32_big_endian.npy", "f64.npy", "v2.npy", "v3.npy"])
    func readsFloatVariants(name: String) throws {
        let t = try NPY.read(path: Fixtures.path("npy/\(name)"))
        #expect(t.shape == [2, 3, 4])
        #expect(t.dtype == .float32)
        #expect(t.scalars(as: Float.self) == reference)
    }

    @Test func readsEveryDType() throws {
        func load(_ n: String) throws -> Tensor { try NPY.read(path: Fixtures.path("npy/\(n)")) }
        #expect(try load("i8.npy").scalars(as: Int8.self) == [-128, -1, 0, 127])
        #expect(try load("u8.npy").scalars(as: UInt8.self) == [0, 255, 7, 8])
        #expect(try load("u8.npy").shape == [2, 2])
        #expect(try load("i32.npy").scalars(as: Int32.self) == [Int32.min, Int32.max])
        #expect(try load("i64.npy").scalars(as: Int64.self) == [Int64.min, Int64.max, 5])
        #expect(try load("bool.npy").scalars(as: Bool.self) == [true, false, true])
        let h = try load("f16.npy").floatScalars()
        #expect(Array(h.prefix(4)) == [0, 1, -2.5, 65504])
        #expect(h[5] == .infinity)
        let s = try load("scalar.npy")
        #expect(s.shape == [] && s.scalars(as: Float.self) == [3.25])
        #expect(try load("empty.npy").shape == [0, 5])
    }

    /// What Frugal writes is byte-identical to what numpy wrote.
    @Test(arguments: ["f32_c.npy", "i8.npy", "u8.npy", "i32.npy", "i64.npy", "bool.npy", "f16.npy", "scalar.npy", "empty.npy"])
    func writesExactlyAsNumpy(name: String) throws {
        let original = try Data(contentsOf: Fixtures.directory.appendingPathComponent("npy/\(name)"))
        let t = try NPY.decode(original)
        #expect(NPY.encode(t) == original)
    }

    @Test func writeIsAtomicAndReadable() throws {
        let dir = try temporaryDirectory()
        let path = dir.appendingPathComponent("x.npy").path
        let t = try Tensor(shape: [3], scalars: [1, 2, 3] as [Int64])
        try NPY.write(t, path: path)
        #expect(try NPY.read(path: path) == t)
        #expect(try FileManager.default.contentsOfDirectory(atPath: dir.path) == ["x.npy"])
    }

    @Test func malformedFilesGiveErrors() throws {
        let good = try Data(contentsOf: Fixtures.directory.appendingPathComponent("npy/f32_c.npy"))
        // truncated data, truncated header, bad magic, empty
        for bad in [good.prefix(good.count - 1), good.prefix(40), Data("hello world, not npy".utf8), Data()] {
            #expect(throws: CoreError.self) { try NPY.decode(Data(bad)) }
        }
        // absurd shape: refused without allocating
        var header = "{'descr': '<f4', 'fortran_order': False, 'shape': (1099511627776, 1024), }"
        header += String(repeating: " ", count: (64 - (10 + header.count + 1) % 64) % 64) + "\n"
        var absurd = Data([0x93, 0x4E, 0x55, 0x4D, 0x50, 0x59, 1, 0, UInt8(header.utf8.count), 0])
        absurd.append(contentsOf: Array(header.utf8))
        #expect(throws: CoreError.self) { try NPY.decode(absurd) }
        // unsupported dtype
        let complexHeader = String(decoding: good.prefix(128), as: UTF8.self).replacingOccurrences(of: "<f4", with: "<c8")
        var complex = Data(complexHeader.utf8)
        complex.append(good.suffix(from: 128))
        #expect(throws: CoreError.self) { try NPY.decode(complex) }
        #expect(throws: CoreError.self) { try NPY.read(path: "/nonexistent/file.npy") }
    }
}
