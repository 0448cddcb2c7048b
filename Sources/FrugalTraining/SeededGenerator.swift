/// A small, fast, seedable generator (SplitMix64): the one source of randomness in training,
/// so one seed gives the same run twice. Every random choice in FrugalTraining
/// (initialisation, shuffling, augmentation, dropout masks) takes one explicitly: there is no
/// global RNG.
///
/// (The train-core branch defines the same struct; when both are in main, keep one definition:
/// the extension below holds what data loading and the zoo add.)
public struct SeededGenerator: RandomNumberGenerator, Sendable {
    private var state: UInt64

    public init(seed: UInt64) { state = seed &+ 0x9E37_79B9_7F4A_7C15 }

    public mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}

extension SeededGenerator {
    /// A generator for a sub-stream (an epoch, a batch): mixing `stream` into `seed` gives
    /// independent sequences for different streams of one seed.
    public init(seed: UInt64, stream: UInt64) {
        var g = SeededGenerator(seed: seed ^ (stream &* 0xD1B5_4A32_D192_ED03))
        self.init(seed: g.next())
    }

    /// A uniform float in [low, high) from 24 random bits.
    public mutating func uniform(_ low: Float, _ high: Float) -> Float {
        let u = Float(next() >> 40) * (1.0 / 16_777_216.0)
        return low + (high - low) * u
    }
}
