/// A seeded, reproducible random number generator (SplitMix64): every random choice in
/// FrugalTraining (initialisation, shuffling, augmentation, dropout masks) takes one
/// explicitly, so equal seeds give equal runs and there is no global RNG.
///
/// ```swift
/// var rng = SeededGenerator(seed: 42)
/// let x = Float.random(in: -1..<1, using: &rng)
/// ```
public struct SeededGenerator: RandomNumberGenerator, Sendable, Hashable {
    public private(set) var state: UInt64

    public init(seed: UInt64) { state = seed }

    /// A generator for a sub-stream (an epoch, a layer): mixing `stream` into `seed` gives
    /// independent sequences for different streams of one seed.
    public init(seed: UInt64, stream: UInt64) {
        var g = SeededGenerator(seed: seed ^ (stream &* 0xD1B5_4A32_D192_ED03))
        state = g.next()
    }

    public mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }

    /// A uniform float in [low, high).
    public mutating func uniform(_ low: Float, _ high: Float) -> Float {
        let u = Float(next() >> 40) * (1.0 / Float(1 << 24))  // 24 random bits in [0, 1)
        return low + (high - low) * u
    }
}
