import ArgumentParser
import FrugalEnergy

/// The carbon options shared by `profile`, `measure` and `demo`.
struct CarbonOptions: ParsableArguments {
    @Option(help: "Grid carbon intensity in gCO2e/kWh (overrides --region).")
    var carbonIntensity: Double?

    @Option(help: "Region whose grid intensity to use (ISO country code, e.g. FR, US, DE; `world` by default).")
    var region: String = "world"

    @Option(help: "Power usage effectiveness of the data centre (1.0 = no overhead).")
    var pue: Double = 1.0

    func factors() throws -> CarbonFactors {
        let intensity = try carbonIntensity.map(CarbonIntensity.user) ?? GridIntensityTable.lookup(region)
        return try CarbonFactors(intensity: intensity, pue: pue)
    }
}
