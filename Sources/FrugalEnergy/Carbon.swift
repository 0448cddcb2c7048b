import Foundation

/// Grid carbon intensity: grams of CO2-equivalent emitted per kWh of electricity, with provenance.
public struct CarbonIntensity: Sendable, Hashable, Codable {
    public var gramsPerKWh: Double
    /// Region code or name it applies to ("world", "FR", "user"...).
    public var region: String
    /// Where the figure comes from (publication or "--carbon-intensity").
    public var source: String
    /// Year the figure describes, when known.
    public var year: Int?

    public init(gramsPerKWh: Double, region: String, source: String, year: Int? = nil) {
        self.gramsPerKWh = gramsPerKWh
        self.region = region
        self.source = source
        self.year = year
    }

    /// A figure the user gave (`--carbon-intensity G`), validated.
    public static func user(_ gramsPerKWh: Double) throws -> CarbonIntensity {
        guard gramsPerKWh.isFinite, gramsPerKWh >= 0, gramsPerKWh < 5000 else {
            throw EnergyError.invalidArgument(
                "carbon intensity \(gramsPerKWh) g/kWh is out of range: give a value between 0 and 5000 (the dirtiest grids are near 1000)")
        }
        return CarbonIntensity(gramsPerKWh: gramsPerKWh, region: "user", source: "--carbon-intensity")
    }
}

/// Everything needed to turn energy into emissions: gCO2e = kWh × intensity × PUE.
public struct CarbonFactors: Sendable, Hashable, Codable {
    public var intensity: CarbonIntensity
    /// Power usage effectiveness of the facility (total facility power / IT power), ≥ 1 in practice.
    public var pue: Double

    public init(intensity: CarbonIntensity, pue: Double = 1.0) throws {
        guard pue.isFinite, pue >= 1.0, pue <= 5.0 else {
            throw EnergyError.invalidArgument("PUE \(pue) is out of range: give a value between 1.0 (no overhead) and 5.0")
        }
        self.intensity = intensity
        self.pue = pue
    }

    /// Grams of CO2-equivalent for `joules` of IT energy.
    public func grams(joules: Double) -> Double {
        joules / 3.6e6 * intensity.gramsPerKWh * pue
    }
}
