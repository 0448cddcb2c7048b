/// SplitMix64 (Steele, Lea and Flood, 2014): a tiny, fast, seedable generator. It is the one
/// mixing function behind every seeded stream in Frugal: benchmark data here, FrugalTraining's
/// `SeededGenerator` (initialisation, shuffling, dropout masks) and the tests' random inputs,
/// so one seed always gives the same numbers.
public struct SplitMix64: RandomNumberGenerator, Sendable {
    public var state: UInt64

    /// Starts from `state` as given (the first output mixes `state + golden gamma`).
    public init(state: UInt64) { self.state = state }

    public mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }

    /// Uniform in [0, 1) from 53 random bits.
    public mutating func unitDouble() -> Double { Double(next() >> 11) * 0x1p-53 }

    /// Uniform in [0, 1) from 24 random bits (every value exact in Float).
    public mutating func unitFloat() -> Float { Float(next() >> 40) * 0x1p-24 }
}
