/// The dict literal at the head of an `.npy` file, e.g.
/// `{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), }`.
extension NPY {
    struct Header {
        var descr: String
        var dtype: DType
        var itemSize: Int
        var bigEndian: Bool
        var isFloat64: Bool
        var fortranOrder: Bool
        var shape: [Int]

        static func parse(_ text: String, path: String) throws -> Header {
            func fail(_ reason: String) -> CoreError { .file(path: path, reason: "NPY header: \(reason)") }
            func value(of key: String) throws -> Substring {
                guard let k = text.range(of: "'\(key)'") ?? text.range(of: "\"\(key)\""),
                    let colon = text[k.upperBound...].firstIndex(of: ":")
                else { throw fail("no '\(key)' entry in \(text.trimmingCharacters())") }
                return text[text.index(after: colon)...].drop(while: { $0 == " " })
            }
            // descr: a quoted string
            let d = try value(of: "descr")
            guard let q = d.first, q == "'" || q == "\"", let end = d.dropFirst().firstIndex(of: q) else {
                throw fail("'descr' is not a quoted string; structured dtypes are not supported")
            }
            let descr = String(d[d.index(after: d.startIndex)..<end])
            // fortran_order: True/False
            let f = try value(of: "fortran_order")
            let fortran: Bool
            if f.hasPrefix("True") { fortran = true } else if f.hasPrefix("False") { fortran = false } else {
                throw fail("'fortran_order' is neither True nor False")
            }
            // shape: a tuple of non-negative integers
            let s = try value(of: "shape")
            guard s.first == "(", let close = s.firstIndex(of: ")") else { throw fail("'shape' is not a tuple") }
            var shape: [Int] = []
            for part in s[s.index(after: s.startIndex)..<close].split(separator: ",") {
                let t = part.trimmingCharacters()
                if t.isEmpty { continue }
                var digits = Substring(t)
                if digits.hasSuffix("L") { digits = digits.dropLast() }  // Python 2 longs
                guard let v = Int(digits), v >= 0 else { throw fail("shape entry '\(t)' is not a non-negative integer") }
                shape.append(v)
            }
            guard descr.count >= 3 else { throw fail("dtype '\(descr)' is not understood") }
            let order = descr.first!
            let code = String(descr.dropFirst())
            let big = order == ">"
            guard order == "<" || order == ">" || order == "|" || order == "=" else {
                throw fail("dtype '\(descr)' has an unknown byte-order mark")
            }
            let table: [String: (DType, Int)] = [
                "f4": (.float32, 4), "f2": (.float16, 2), "i1": (.int8, 1), "u1": (.uint8, 1),
                "i4": (.int32, 4), "i8": (.int64, 8), "b1": (.bool, 1), "f8": (.float32, 8),
            ]
            guard let (dtype, size) = table[code] else {
                throw fail("dtype '\(descr)' is not supported; use float32, float16, int8, uint8, int32, int64, bool (or float64, read as float32)")
            }
            return Header(descr: descr, dtype: dtype, itemSize: size, bigEndian: big && size > 1,
                isFloat64: code == "f8", fortranOrder: fortran, shape: shape)
        }
    }
}

extension StringProtocol {
    func trimmingCharacters() -> String {
        String(self.drop(while: { $0 == " " || $0 == "\n" }).reversed().drop(while: { $0 == " " || $0 == "\n" }).reversed())
    }
}
