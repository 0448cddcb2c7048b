import Foundation
import FrugalCore
import FrugalEngine

/// TensorProto <-> Tensor. Reads raw_data, the typed fields (float_data, int32_data for the
/// small integer types and float16 bits, int64_data, double_data), and external data files
/// beside the model. Sizes are checked against the data actually present and against memory
/// before anything is allocated.
enum TensorProtoConversion {
    static func tensor(from p: Onnx_TensorProto, path: String, baseDirectory: URL?) throws -> Tensor {
        let name = p.name.isEmpty ? "<unnamed>" : p.name
        func fail(_ reason: String) -> ONNXError { .tensor(path: path, name: name, reason: reason) }
        guard let dtype = ONNXDataType.dtype(for: Int(p.dataType)) else {
            throw fail("element type \(ONNXDataType.name(Int(p.dataType))) is not one Frugal computes with (float, float16, int8, uint8, int32, int64, bool)")
        }
        var dims: [Int] = []
        for d in p.dims {
            guard d >= 0 else { throw fail("dimension \(d) is negative") }
            dims.append(Int(d))
        }
        let shape = Shape(dims)
        let count: Int
        do {
            count = try shape.validated()
            _ = try MemoryLimit.checkedByteCount(elements: count, dtype: dtype, what: "tensor '\(name)' of shape \(shape)")
        } catch let e as CoreError {
            throw fail("\(e)")
        }
        let byteCount = count * dtype.byteSize

        if p.dataLocation == .external {
            let bytes = try externalBytes(p, expected: byteCount, path: path, baseDirectory: baseDirectory, fail: fail)
            return try fromRaw(bytes, shape: shape, dtype: dtype)
        }
        if p.hasRawData {
            guard p.rawData.count == byteCount else {
                throw fail("raw_data holds \(p.rawData.count) bytes but shape \(shape) of \(dtype) needs \(byteCount); the file is corrupt or truncated")
            }
            return try fromRaw(p.rawData, shape: shape, dtype: dtype)
        }
        func check(_ n: Int, _ field: String) throws {
            guard n == count else {
                throw fail("\(field) holds \(n) values but shape \(shape) needs \(count)")
            }
        }
        switch dtype {
        case .float32:
            if !p.doubleData.isEmpty {
                try check(p.doubleData.count, "double_data")
                return try Tensor(shape: shape, scalars: p.doubleData.map(Float.init))
            }
            try check(p.floatData.count, "float_data")
            return try Tensor(shape: shape, scalars: p.floatData)
        case .int64:
            try check(p.int64Data.count, "int64_data")
            return try Tensor(shape: shape, scalars: p.int64Data)
        case .int32:
            try check(p.int32Data.count, "int32_data")
            return try Tensor(shape: shape, scalars: p.int32Data)
        case .int8:
            try check(p.int32Data.count, "int32_data")
            return try Tensor(shape: shape, scalars: p.int32Data.map { Int8(truncatingIfNeeded: $0) })
        case .uint8:
            try check(p.int32Data.count, "int32_data")
            return try Tensor(shape: shape, scalars: p.int32Data.map { UInt8(truncatingIfNeeded: $0) })
        case .bool:
            try check(p.int32Data.count, "int32_data")
            return try Tensor(shape: shape, scalars: p.int32Data.map { $0 != 0 })
        case .float16:
            try check(p.int32Data.count, "int32_data")
            return try Tensor(shape: shape, scalars: p.int32Data.map { Half(bitPattern: UInt16(truncatingIfNeeded: $0)) })
        }
    }

    private static func fromRaw(_ data: Data, shape: Shape, dtype: DType) throws -> Tensor {
        var t = try Tensor(zeros: shape, dtype: dtype)
        t.withUnsafeMutableRawBytes { dst in
            data.withUnsafeBytes { src in
                if src.count > 0 { dst.baseAddress!.copyMemory(from: src.baseAddress!, byteCount: src.count) }
            }
        }
        if dtype == .bool {
            t.withUnsafeMutableRawBytes { b in for i in 0..<b.count where b[i] > 1 { b[i] = 1 } }
        }
        return t
    }

    private static func externalBytes(_ p: Onnx_TensorProto, expected: Int, path: String, baseDirectory: URL?,
                                      fail: (String) -> ONNXError) throws -> Data {
        var location = "", offset = 0, length: Int?
        for e in p.externalData {
            switch e.key {
            case "location": location = e.value
            case "offset": offset = Int(e.value) ?? -1
            case "length": length = Int(e.value)
            default: break
            }
        }
        guard !location.isEmpty else { throw fail("external data has no 'location'") }
        guard !location.hasPrefix("/"), !location.split(separator: "/").contains("..") else {
            throw fail("external data location '\(location)' leaves the model's folder; only files beside the model are read")
        }
        guard offset >= 0 else { throw fail("external data offset is not a non-negative integer") }
        if let length, length != expected {
            throw fail("external data length \(length) does not match the \(expected) bytes its shape needs")
        }
        guard let base = baseDirectory else { throw fail("external data '\(location)' needs the model's folder; load the model from a file") }
        let file = base.appendingPathComponent(location)
        guard let handle = try? FileHandle(forReadingFrom: file) else {
            throw fail("external data file '\(file.path)' cannot be opened; keep it beside the model")
        }
        defer { try? handle.close() }
        let size = (try? handle.seekToEnd()).map(Int.init) ?? 0
        guard offset + expected <= size else {
            throw fail("external data file '\(file.path)' has \(size) bytes; the tensor needs \(expected) from offset \(offset)")
        }
        try? handle.seek(toOffset: UInt64(offset))
        guard let data = try? handle.read(upToCount: expected), data.count == expected else {
            throw fail("external data file '\(file.path)' could not be read")
        }
        return data
    }

    /// The TensorProto for a tensor (raw_data, little-endian as ONNX requires).
    static func proto(from t: Tensor, name: String) -> Onnx_TensorProto {
        var p = Onnx_TensorProto()
        p.name = name
        p.dataType = Int32(ONNXDataType.code(for: t.dtype))
        p.dims = t.shape.dims.map(Int64.init)
        p.rawData = t.withUnsafeRawBytes { Data($0.prefix(t.elementCount * t.dtype.byteSize)) }
        return p
    }
}
