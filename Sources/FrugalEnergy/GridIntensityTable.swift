import Foundation

/// One row of the grid table: a country (or "world") with its intensity and provenance.
public struct GridRegion: Sendable, Hashable {
    /// ISO 3166-1 alpha-2 code ("FR"), or "world".
    public var code: String
    /// ISO 3166-1 alpha-3 code ("FRA"), as CodeCarbon's `country_iso_code` column uses.
    public var alpha3: String
    public var name: String
    public var gramsPerKWh: Double
    public var year: Int
    public var source: String

    public var intensity: CarbonIntensity {
        CarbonIntensity(gramsPerKWh: gramsPerKWh, region: code, source: source, year: year)
    }
}

/// Grid carbon intensity by country, each figure with its source and year.
///
/// Lookups are by ISO 3166-1 alpha-2 or alpha-3 code or by English name, case-insensitively;
/// "world" is the default.
///
/// Country rows: lifecycle gCO2e per kWh of electricity generated in 2021, as published by Our
/// World in Data ("Carbon intensity of electricity generation", built on Ember's and the Energy
/// Institute's data) and tabulated in CodeCarbon's `global_energy_mix.json`; rounded to the gram.
/// Intensities change year to year (France and Sweden are steady; Germany, the UK and Poland
/// have moved by 10-20% since): pass `--carbon-intensity` for a current or hourly figure.
public enum GridIntensityTable {
    static let owid2021 = "Our World in Data, carbon intensity of electricity generation (Ember and Energy Institute data), rounded"

    static func row(_ code: String, _ alpha3: String, _ name: String, _ g: Double) -> GridRegion {
        GridRegion(code: code, alpha3: alpha3, name: name, gramsPerKWh: g, year: 2021, source: owid2021)
    }

    public static let rows: [GridRegion] = [
        GridRegion(code: "world", alpha3: "", name: "World", gramsPerKWh: 480, year: 2023,
                   source: "Ember, Global Electricity Review 2024 (power-sector average)"),
        row("AE", "ARE", "United Arab Emirates", 462),
        row("AR", "ARG", "Argentina", 358),
        row("AT", "AUT", "Austria", 148),
        row("AU", "AUS", "Australia", 531),
        row("BE", "BEL", "Belgium", 157),
        row("BR", "BRA", "Brazil", 159),
        row("CA", "CAN", "Canada", 128),
        row("CH", "CHE", "Switzerland", 47),
        row("CL", "CHL", "Chile", 417),
        row("CN", "CHN", "China", 544),
        row("CO", "COL", "Colombia", 181),
        row("CZ", "CZE", "Czechia", 406),
        row("DE", "DEU", "Germany", 365),
        row("DK", "DNK", "Denmark", 221),
        row("EG", "EGY", "Egypt", 464),
        row("ES", "ESP", "Spain", 194),
        row("FI", "FIN", "Finland", 146),
        row("FR", "FRA", "France", 67),
        row("GB", "GBR", "United Kingdom", 268),
        row("GR", "GRC", "Greece", 353),
        row("HU", "HUN", "Hungary", 233),
        row("ID", "IDN", "Indonesia", 623),
        row("IE", "IRL", "Ireland", 364),
        row("IL", "ISR", "Israel", 548),
        row("IN", "IND", "India", 637),
        row("IS", "ISL", "Iceland", 29),
        row("IT", "ITA", "Italy", 341),
        row("JP", "JPN", "Japan", 479),
        row("KE", "KEN", "Kenya", 86),
        row("KR", "KOR", "South Korea", 458),
        row("MX", "MEX", "Mexico", 400),
        row("MY", "MYS", "Malaysia", 549),
        row("NG", "NGA", "Nigeria", 377),
        row("NL", "NLD", "Netherlands", 389),
        row("NO", "NOR", "Norway", 28),
        row("NZ", "NZL", "New Zealand", 132),
        row("PH", "PHL", "Philippines", 581),
        row("PK", "PAK", "Pakistan", 366),
        row("PL", "POL", "Poland", 660),
        row("PT", "PRT", "Portugal", 219),
        row("RO", "ROU", "Romania", 256),
        row("RU", "RUS", "Russia", 360),
        row("SA", "SAU", "Saudi Arabia", 571),
        row("SE", "SWE", "Sweden", 46),
        row("SG", "SGP", "Singapore", 488),
        row("TH", "THA", "Thailand", 507),
        row("TR", "TUR", "Turkey", 430),
        row("TW", "TWN", "Taiwan", 573),
        row("UA", "UKR", "Ukraine", 240),
        row("US", "USA", "United States", 379),
        row("VN", "VNM", "Vietnam", 448),
        row("ZA", "ZAF", "South Africa", 716),
    ]

    /// The table as intensities (region = alpha-2 code or "world").
    public static var entries: [CarbonIntensity] { rows.map(\.intensity) }

    /// Other spellings people type.
    static let aliases: [String: String] = ["uk": "GB", "great britain": "GB", "usa": "US", "united states of america": "US",
                                            "korea": "KR", "republic of korea": "KR", "czech republic": "CZ", "global": "world"]

    /// The row for a code or name, nil when unknown.
    public static func region(_ query: String) -> GridRegion? {
        let key = query.trimmingCharacters(in: .whitespaces).lowercased()
        let target = aliases[key]?.lowercased() ?? key
        return rows.first { $0.code.lowercased() == target || $0.alpha3.lowercased() == target || $0.name.lowercased() == target }
    }

    public static func lookup(_ region: String) throws -> CarbonIntensity {
        if let hit = self.region(region) { return hit.intensity }
        let known = rows.map(\.code).joined(separator: ", ")
        throw EnergyError.invalidArgument(
            "no grid carbon intensity for region '\(region)'; known regions (ISO codes, alpha-3 codes or English names): \(known). Pass --carbon-intensity G (gCO2e/kWh) instead")
    }
}
