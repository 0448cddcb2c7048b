#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import Foundation

/// Why a small system file (sysfs counter, /proc entry) could not be read.
public struct FileReadFailure: Error, Equatable, Sendable {
    public var path: String
    /// The C `errno` of the failing call (ENOENT, EACCES, EISDIR...).
    public var code: Int32

    public init(path: String, code: Int32) {
        self.path = path
        self.code = code
    }

    public var isPermissionDenied: Bool { code == EACCES || code == EPERM }
    public var isMissing: Bool { code == ENOENT || code == ENOTDIR }
    public var reason: String { String(cString: strerror(code)) }
}

/// Reads small text files. Injectable so tests can simulate permission errors even as root,
/// where `chmod 000` does not stop a read.
public protocol TextFileReading: Sendable {
    /// The whole file as text, or the errno of the failure.
    func read(_ path: String) -> Result<String, FileReadFailure>
    /// Entries of a directory (names only), or nil when it is not a readable directory.
    func list(_ directory: String) -> [String]?
}

/// Reads through open(2)/read(2) so that the errno (EACCES on a root-only counter) is kept.
public struct SystemFileReader: TextFileReading {
    public init() {}

    public func read(_ path: String) -> Result<String, FileReadFailure> {
        let fd = open(path, O_RDONLY)
        if fd < 0 { return .failure(FileReadFailure(path: path, code: errno)) }
        defer { close(fd) }
        var bytes: [UInt8] = []
        var buffer = [UInt8](repeating: 0, count: 4096)
        while true {
            let n = buffer.withUnsafeMutableBytes { Foundation.read(fd, $0.baseAddress, $0.count) }
            if n < 0 {
                if errno == EINTR { continue }
                return .failure(FileReadFailure(path: path, code: errno))
            }
            if n == 0 { break }
            bytes.append(contentsOf: buffer[0..<n])
            if bytes.count > 1 << 20 { break }  // sysfs and /proc entries are small; stop runaway reads
        }
        return .success(String(decoding: bytes, as: UTF8.self))
    }

    public func list(_ directory: String) -> [String]? {
        try? FileManager.default.contentsOfDirectory(atPath: directory)
    }
}
