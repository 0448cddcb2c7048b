import FrugalCore

// N-dimensional im2col / col2im through a table of offsets, for the cases the 2-D kernels
// do not cover (3-D Conv, ConvTranspose of any rank). A convolution relates an "image"
// (spatial dims `imageDims`) to a "grid" of window positions (spatial dims `gridDims`):
// window position p and kernel tap k read image element offsets[k * P + p] (-1 in padding).
// im2col copies image -> columns (Conv); col2im adds columns -> image (ConvTranspose).

struct ColumnMap {
    let taps: Int  // K: kernel elements
    let positions: Int  // P: grid elements
    let imageSize: Int
    let offsets: [Int32]

    init(imageDims: [Int], gridDims: [Int], attributes a: SpatialAttributes) {
        let r = imageDims.count
        taps = a.kernel.reduce(1, *)
        positions = gridDims.reduce(1, *)
        imageSize = imageDims.reduce(1, *)
        var table = [Int32](repeating: -1, count: taps * positions)
        var kIndex = [Int](repeating: 0, count: r)
        var pIndex = [Int](repeating: 0, count: r)
        var imageStrides = [Int](repeating: 1, count: r)
        for i in stride(from: r - 2, through: 0, by: -1) { imageStrides[i] = imageStrides[i + 1] * imageDims[i + 1] }
        for k in 0..<taps {
            var rem = k
            for i in stride(from: r - 1, through: 0, by: -1) { kIndex[i] = rem % a.kernel[i]; rem /= a.kernel[i] }
            for i in 0..<r { pIndex[i] = 0 }
            for p in 0..<positions {
                var off = 0
                var inside = true
                for i in 0..<r {
                    let c = pIndex[i] * a.strides[i] - a.padsBegin[i] + kIndex[i] * a.dilations[i]
                    if c < 0 || c >= imageDims[i] { inside = false; break }
                    off += c * imageStrides[i]
                }
                if inside { table[k * positions + p] = Int32(off) }
                // Next grid position (row-major).
                var i = r - 1
                while i >= 0 {
                    pIndex[i] += 1
                    if pIndex[i] < gridDims[i] { break }
                    pIndex[i] = 0
                    i -= 1
                }
            }
        }
        offsets = table
    }

    /// Columns [channels * K, P] from `channels` image planes.
    func unfold(_ image: UnsafePointer<Float>, channels: Int, into col: UnsafeMutablePointer<Float>) {
        offsets.withUnsafeBufferPointer { t in
            for c in 0..<channels {
                let src = image + c * imageSize
                let dst = col + c * taps * positions
                for j in 0..<(taps * positions) {
                    let o = Int(t[j])
                    dst[j] = o >= 0 ? src[o] : 0
                }
            }
        }
    }

    /// Adds columns [channels * K, P] into `channels` image planes.
    func fold(_ col: UnsafePointer<Float>, channels: Int, into image: UnsafeMutablePointer<Float>) {
        offsets.withUnsafeBufferPointer { t in
            for c in 0..<channels {
                let dst = image + c * imageSize
                let src = col + c * taps * positions
                for j in 0..<(taps * positions) {
                    let o = Int(t[j])
                    if o >= 0 { dst[o] += src[j] }
                }
            }
        }
    }
}

extension ColumnMap {
    /// Columns [channels * K, P] of any element type, `padding` where a tap is outside the
    /// image (the zero point, for quantized images).
    func unfold<T>(_ image: UnsafePointer<T>, channels: Int, padding: T, into col: UnsafeMutablePointer<T>) {
        offsets.withUnsafeBufferPointer { t in
            for c in 0..<channels {
                let src = image + c * imageSize
                let dst = col + c * taps * positions
                for j in 0..<(taps * positions) {
                    let o = Int(t[j])
                    dst[j] = o >= 0 ? src[o] : padding
                }
            }
        }
    }
}
