import Foundation

/// Reads and writes numpy's `.npy` format (versions 1.0, 2.0 and 3.0), byte for byte as
/// `numpy.save` writes it: magic `\x93NUMPY`, version, a little-endian header length
/// (uint16 in v1, uint32 in v2/v3), a Python dict literal header padded with spaces and a
/// newline to a multiple of 64 bytes, then the raw data.
///
/// Reading accepts C or Fortran order, either byte order, and `<f8` (converted to float32,
/// since Frugal computes in float32). Writing produces v1.0 unless the header needs v2.0.
public enum NPY {
    /// Parses `.npy` bytes; `path` names the source in error messages.
    public static func decode(_ data: Data, path: String = "<memory>") throws -> Tensor {
        func fail(_ reason: String) -> CoreError { .file(path: path, reason: reason) }
        let bytes = [UInt8](data.prefix(12))
        let magic: [UInt8] = [0x93, 0x4E, 0x55, 0x4D, 0x50, 0x59]
        guard bytes.count >= 10, Array(bytes[0..<6]) == magic else {
            throw fail("not an NPY file (the first bytes are not \\x93NUMPY); write it with numpy.save")
        }
        let major = bytes[6]
        let headerLength: Int
        let headerStart: Int
        switch major {
        case 1:
            headerLength = Int(bytes[8]) | Int(bytes[9]) << 8
            headerStart = 10
        case 2, 3:
            guard bytes.count >= 12 else { throw fail("NPY header is truncated") }
            headerLength = Int(bytes[8]) | Int(bytes[9]) << 8 | Int(bytes[10]) << 16 | Int(bytes[11]) << 24
            headerStart = 12
        default:
            throw fail("NPY version \(major).\(bytes[7]) is not supported (1.0, 2.0 and 3.0 are)")
        }
        guard data.count >= headerStart + headerLength else {
            throw fail("NPY header says \(headerLength) bytes but the file has only \(data.count - headerStart) after the preamble; the file is truncated")
        }
        let headerBytes = data.subdata(in: data.startIndex + headerStart..<data.startIndex + headerStart + headerLength)
        guard let header = String(data: headerBytes, encoding: major == 3 ? .utf8 : .isoLatin1) else {
            throw fail("NPY header is not text")
        }
        let parsed = try Header.parse(header, path: path)
        let dataStart = headerStart + headerLength
        let count = try Shape(parsed.shape).validated()
        let (needed, overflow) = count.multipliedReportingOverflow(by: parsed.itemSize)
        let available = data.count - dataStart
        guard !overflow, needed <= available else {
            throw fail("NPY header declares shape \(Shape(parsed.shape)) of \(parsed.descr) (\(overflow ? "over 2^63" : String(needed)) bytes) but only \(available) data bytes follow; the file is truncated or the header is wrong")
        }
        var tensor = try Tensor(zeros: Shape(parsed.shape), dtype: parsed.dtype)
        try tensor.withUnsafeMutableRawBytes { dst in
            data.withUnsafeBytes { (raw: UnsafeRawBufferPointer) in
                let src = UnsafeRawBufferPointer(rebasing: raw[dataStart..<dataStart + needed])
                if parsed.isFloat64 {
                    let out = dst.bindMemory(to: Float.self)
                    for i in 0..<count {
                        var bits = src.loadUnaligned(fromByteOffset: i * 8, as: UInt64.self)
                        if parsed.bigEndian { bits = bits.byteSwapped }
                        out[i] = Float(Double(bitPattern: bits))
                    }
                } else {
                    if needed > 0 { dst.baseAddress!.copyMemory(from: src.baseAddress!, byteCount: needed) }
                    if parsed.bigEndian { byteSwap(dst, itemSize: parsed.itemSize, count: count) }
                }
            }
            if parsed.dtype == .bool {
                for i in 0..<count where dst[i] > 1 {
                    throw fail("bool element \(i) holds \(dst[i]); numpy writes booleans as 0 or 1")
                }
            }
        }
        if parsed.fortranOrder && parsed.shape.count > 1 {
            tensor = try reverseAxes(tensor, storedShape: Array(parsed.shape.reversed()))
        }
        return tensor
    }

    /// Reads a `.npy` file.
    public static func read(path: String) throws -> Tensor {
        let data: Data
        do {
            data = try Data(contentsOf: URL(fileURLWithPath: path), options: .mappedIfSafe)
        } catch {
            throw CoreError.file(path: path, reason: "cannot read: \(error.localizedDescription)")
        }
        return try decode(data, path: path)
    }

    /// The bytes `numpy.save` would write for `tensor`.
    public static func encode(_ tensor: Tensor) -> Data {
        let shapeText: String
        switch tensor.shape.rank {
        case 0: shapeText = "()"
        case 1: shapeText = "(\(tensor.shape[0]),)"
        default: shapeText = "(" + tensor.shape.dims.map(String.init).joined(separator: ", ") + ")"
        }
        let header = "{'descr': '\(descr(tensor.dtype))', 'fortran_order': False, 'shape': \(shapeText), }"
        // Pad so that preamble + header + "\n" is a multiple of 64 bytes.
        var version: UInt8 = 1
        var preamble = 10
        var total = preamble + header.utf8.count + 1
        if total + (64 - total % 64) % 64 - preamble > 65535 {
            version = 2
            preamble = 12
            total = preamble + header.utf8.count + 1
        }
        let padded = header + String(repeating: " ", count: (64 - total % 64) % 64) + "\n"
        var out = Data([0x93, 0x4E, 0x55, 0x4D, 0x50, 0x59, version, 0])
        let len = padded.utf8.count
        if version == 1 {
            out.append(contentsOf: [UInt8(len & 0xFF), UInt8(len >> 8)])
        } else {
            out.append(contentsOf: (0..<4).map { UInt8((len >> (8 * $0)) & 0xFF) })
        }
        out.append(contentsOf: Array(padded.utf8))
        tensor.withUnsafeRawBytes { out.append(contentsOf: $0.prefix(tensor.elementCount * tensor.dtype.byteSize)) }
        return out
    }

    /// Writes `tensor` to `path` through a temporary file and a rename, so an interrupted
    /// write never leaves a partial file.
    public static func write(_ tensor: Tensor, path: String) throws {
        do {
            try encode(tensor).write(to: URL(fileURLWithPath: path), options: .atomic)
        } catch {
            throw CoreError.file(path: path, reason: "cannot write: \(error.localizedDescription)")
        }
    }

    static func descr(_ dtype: DType) -> String {
        switch dtype {
        case .float32: return "<f4"
        case .float16: return "<f2"
        case .int8: return "|i1"
        case .uint8: return "|u1"
        case .int32: return "<i4"
        case .int64: return "<i8"
        case .bool: return "|b1"
        }
    }

    private static func byteSwap(_ buf: UnsafeMutableRawBufferPointer, itemSize: Int, count: Int) {
        guard itemSize > 1 else { return }
        let p = buf.bindMemory(to: UInt8.self)
        for i in 0..<count {
            var lo = i * itemSize, hi = lo + itemSize - 1
            while lo < hi {
                p.swapAt(lo, hi)
                lo += 1
                hi -= 1
            }
        }
    }

    /// Converts Fortran-order data (C order of the reversed shape) to C order.
    private static func reverseAxes(_ t: Tensor, storedShape: [Int]) throws -> Tensor {
        let target = Shape(Array(storedShape.reversed()))
        var out = try Tensor(zeros: target, dtype: t.dtype)
        let size = t.dtype.byteSize
        let srcStrides = Shape(storedShape).strides
        let rank = storedShape.count
        // Output index (i0..i{r-1}) reads source index (i{r-1}..i0).
        let readStrides = Array(srcStrides.reversed())
        t.withUnsafeRawBytes { src in
            out.withUnsafeMutableRawBytes { dst in
                var idx = [Int](repeating: 0, count: rank)
                for o in 0..<t.elementCount {
                    var s = 0
                    for d in 0..<rank { s += idx[d] * readStrides[d] }
                    dst.baseAddress!.advanced(by: o * size).copyMemory(from: src.baseAddress!.advanced(by: s * size), byteCount: size)
                    var d = rank - 1
                    while d >= 0 {
                        idx[d] += 1
                        if idx[d] < target[d] { break }
                        idx[d] = 0
                        d -= 1
                    }
                }
            }
        }
        return out
    }
}
