import FrugalCore
import Foundation

/// The IDX format of the MNIST files: a 4-byte magic number (0, 0, element type, rank), the
/// rank's dimensions as big-endian UInt32, then the elements in C order.
public enum IDX {
    /// Parses an IDX file of unsigned bytes (type 0x08) into a uint8 tensor. `expectedRank`,
    /// when given, is checked against the magic number (MNIST images: 3, labels: 1).
    public static func decode(_ data: Data, path: String, expectedRank: Int? = nil) throws -> Tensor {
        let bytes = [UInt8](data)
        guard bytes.count >= 4 else {
            throw TrainingError.data(path: path, reason: "truncated: \(bytes.count) bytes, too short for an IDX magic number")
        }
        let magic = bytes[0..<4].reduce(UInt32(0)) { $0 << 8 | UInt32($1) }
        let rank = Int(bytes[3])
        guard bytes[0] == 0, bytes[1] == 0, bytes[2] == 0x08, rank >= 1 else {
            throw TrainingError.data(path: path, reason: String(format: "wrong magic number 0x%08X; expected an IDX file of unsigned bytes (0x0000080N, e.g. 0x00000803 for images, 0x00000801 for labels)", magic))
        }
        if let r = expectedRank, r != rank {
            throw TrainingError.data(path: path, reason: String(format: "wrong magic number 0x%08X: an IDX file of rank %d, expected rank %d (0x%08X)", magic, rank, r, 0x800 + r))
        }
        let headerBytes = 4 + 4 * rank
        guard bytes.count >= headerBytes else {
            throw TrainingError.data(path: path, reason: "truncated: \(bytes.count) bytes, too short for the header of a rank-\(rank) IDX file (\(headerBytes) bytes)")
        }
        var dims: [Int] = []
        for d in 0..<rank {
            let o = 4 + 4 * d
            dims.append(Int(bytes[o..<o + 4].reduce(UInt32(0)) { $0 << 8 | UInt32($1) }))
        }
        let (count, overflow) = dims.reduce((1, false)) { acc, d in
            let (p, o) = acc.0.multipliedReportingOverflow(by: d)
            return (p, acc.1 || o)
        }
        guard !overflow else { throw TrainingError.data(path: path, reason: "dimensions \(dims) are too large") }
        let available = bytes.count - headerBytes
        guard available >= count else {
            throw TrainingError.data(path: path, reason: "truncated: the header declares dimensions \(dims) (\(count) bytes of data) but only \(available) bytes follow")
        }
        guard available == count else {
            throw TrainingError.data(path: path, reason: "\(available - count) unexpected bytes after the \(count) bytes of data that the header's dimensions \(dims) declare")
        }
        return try Tensor(shape: Shape(dims), scalars: Array(bytes[headerBytes...]))
    }

    /// Reads an IDX file, gzip-compressed when its name ends in ".gz".
    public static func read(path: String, expectedRank: Int? = nil) throws -> Tensor {
        try decode(Gzip.readFile(path), path: path, expectedRank: expectedRank)
    }

    /// Encodes a uint8 tensor as IDX (for writing datasets and test fixtures).
    public static func encode(_ tensor: Tensor) -> Data {
        precondition(tensor.dtype == .uint8, "IDX.encode takes uint8 tensors")
        var out: [UInt8] = [0, 0, 0x08, UInt8(tensor.rank)]
        for d in tensor.shape.dims {
            let v = UInt32(d)
            out += [UInt8(v >> 24), UInt8(v >> 16 & 0xFF), UInt8(v >> 8 & 0xFF), UInt8(v & 0xFF)]
        }
        out += tensor.scalars(as: UInt8.self)
        return Data(out)
    }
}
