import Foundation
import FrugalCore
/// The seedable generator of training: the one source of randomness in FrugalTraining, so one
/// seed gives the same run twice. Every random choice (initialisation, shuffling, augmentation,
/// dropout masks) takes one explicitly: there is no global RNG. It is FrugalCore's SplitMix64
/// started from `seed` plus the golden gamma.
public struct SeededGenerator: RandomNumberGenerator, Sendable {
    private var mix: SplitMix64

    public init(seed: UInt64) { mix = SplitMix64(state: seed &+ 0x9E37_79B9_7F4A_7C15) }

    public mutating func next() -> UInt64 { mix.next() }
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
        low + (high - low) * nextFloat()
    }

    /// Uniform in [0, 1) from 24 random bits.
    mutating func nextFloat() -> Float { Float(next() >> 40) * (1.0 / 16_777_216.0) }

    /// Standard normal (Box-Muller).
    mutating func nextGaussian() -> Float {
        let u1 = max(Double(next() >> 11) * (1.0 / 9_007_199_254_740_992.0), 1e-300)
        let u2 = Double(next() >> 11) * (1.0 / 9_007_199_254_740_992.0)
        return Float((-2 * log(u1)).squareRoot() * cos(2 * Double.pi * u2))
    }
}
