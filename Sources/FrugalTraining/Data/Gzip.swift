import CZlib
import Foundation

/// gzip (and zlib) streams through the system zlib.
public enum Gzip {
    /// Decompresses a gzip or zlib stream (detected from its header); `path` names the file in errors.
    /// A stream that ends early, or has a bad header or checksum, throws ``TrainingError/data(path:reason:)``.
    public static func decompress(_ data: Data, path: String = "<memory>") throws -> Data {
        if data.isEmpty { throw TrainingError.data(path: path, reason: "the file is empty; expected a gzip stream") }
        var stream = z_stream()
        // 15 + 32: a window of 32 KB, and detect gzip or zlib headers automatically.
        guard frugal_inflateInit2(&stream, 15 + 32) == Z_OK else {
            throw TrainingError.data(path: path, reason: "zlib could not initialise a decompressor")
        }
        defer { inflateEnd(&stream) }
        var out = Data()
        let chunk = 1 << 20
        var buffer = [UInt8](repeating: 0, count: chunk)
        var status: Int32 = Z_OK
        try data.withUnsafeBytes { (src: UnsafeRawBufferPointer) in
            stream.next_in = UnsafeMutablePointer(mutating: src.bindMemory(to: Bytef.self).baseAddress!)
            stream.avail_in = uInt(src.count)
            repeat {
                status = buffer.withUnsafeMutableBufferPointer { dst -> Int32 in
                    stream.next_out = dst.baseAddress
                    stream.avail_out = uInt(chunk)
                    return inflate(&stream, Z_NO_FLUSH)
                }
                let produced = chunk - Int(stream.avail_out)
                if produced > 0 { out.append(buffer, count: produced) }
                switch status {
                case Z_OK, Z_STREAM_END: break
                case Z_BUF_ERROR:
                    // No progress possible: the input ended before the stream did.
                    throw TrainingError.data(path: path, reason: "the gzip stream is truncated (ends after \(data.count) bytes, \(out.count) bytes decompressed); download the file again")
                default:
                    let msg = stream.msg.map { String(cString: $0) } ?? "error \(status)"
                    throw TrainingError.data(path: path, reason: "not a valid gzip stream (\(msg))")
                }
            } while status != Z_STREAM_END && (stream.avail_in > 0 || stream.avail_out == 0)
        }
        if status != Z_STREAM_END {
            throw TrainingError.data(path: path, reason: "the gzip stream is truncated (ends after \(data.count) bytes, \(out.count) bytes decompressed); download the file again")
        }
        return out
    }

    /// Compresses `data` as a gzip stream (used to write datasets and test fixtures).
    public static func compress(_ data: Data, level: Int32 = 6) -> Data {
        var stream = z_stream()
        precondition(frugal_deflateInit2(&stream, level, 15 + 16) == Z_OK, "zlib could not initialise a compressor")
        defer { deflateEnd(&stream) }
        var out = Data()
        let chunk = 1 << 16
        var buffer = [UInt8](repeating: 0, count: chunk)
        var input = [UInt8](data)
        input.withUnsafeMutableBufferPointer { src in
            stream.next_in = src.baseAddress
            stream.avail_in = uInt(src.count)
            var status: Int32 = Z_OK
            repeat {
                status = buffer.withUnsafeMutableBufferPointer { dst -> Int32 in
                    stream.next_out = dst.baseAddress
                    stream.avail_out = uInt(chunk)
                    return deflate(&stream, Z_FINISH)
                }
                out.append(buffer, count: chunk - Int(stream.avail_out))
            } while status == Z_OK || status == Z_BUF_ERROR
            precondition(status == Z_STREAM_END, "zlib deflate failed with \(status)")
        }
        return out
    }

    /// Reads a file, decompressing it when its name ends in ".gz".
    public static func readFile(_ path: String) throws -> Data {
        guard let data = FileManager.default.contents(atPath: path) else {
            throw TrainingError.data(path: path, reason: "cannot read the file (missing or unreadable)")
        }
        return path.hasSuffix(".gz") ? try decompress(data, path: path) : data
    }
}
