import Foundation

/// Grid carbon intensity by country or region, each figure with its source and year.
///
/// Lookups are by ISO 3166-1 alpha-2 code or name, case-insensitively; "world" is the default.
public enum GridIntensityTable {
    /// The table. Rows are added with their source; a region missing here needs
    /// `--carbon-intensity`.
    public static let entries: [CarbonIntensity] = [
        CarbonIntensity(gramsPerKWh: 480, region: "world",
                        source: "Ember, Global Electricity Review 2024 (power-sector average)", year: 2023),
    ]

    public static func lookup(_ region: String) throws -> CarbonIntensity {
        let key = region.lowercased()
        if let hit = entries.first(where: { $0.region.lowercased() == key }) { return hit }
        let known = entries.map(\.region).joined(separator: ", ")
        throw EnergyError.invalidArgument(
            "no grid carbon intensity for region '\(region)'; known regions: \(known). Pass --carbon-intensity G (gCO2e/kWh) instead")
    }
}
