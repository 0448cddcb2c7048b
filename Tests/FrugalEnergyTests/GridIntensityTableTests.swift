import XCTest
@testable import FrugalEnergy

final class GridIntensityTableTests: XCTestCase {
    func testLookupByCodeNameAndCase() throws {
        for q in ["FR", "fr", "FRA", "fra", "France", "FRANCE", " france "] {
            let c = try GridIntensityTable.lookup(q)
            XCTAssertEqual(c.region, "FR", q)
            XCTAssertEqual(c.gramsPerKWh, 67)
            XCTAssertEqual(c.year, 2021)
        }
        XCTAssertEqual(try GridIntensityTable.lookup("uk").region, "GB")
        XCTAssertEqual(try GridIntensityTable.lookup("United States").region, "US")
        XCTAssertEqual(GridIntensityTable.region("DE")?.alpha3, "DEU")
        XCTAssertEqual(try GridIntensityTable.lookup("world").gramsPerKWh, 480)
    }

    func testUnknownRegionSaysWhatToDo() {
        XCTAssertThrowsError(try GridIntensityTable.lookup("Atlantis")) { e in
            guard case EnergyError.invalidArgument(let msg) = e else { return XCTFail("\(e)") }
            XCTAssertTrue(msg.contains("'Atlantis'") && msg.contains("--carbon-intensity") && msg.contains("FR"), msg)
        }
    }

    func testRowsAreWellFormed() {
        let rows = GridIntensityTable.rows
        XCTAssertGreaterThanOrEqual(rows.count, 30)
        XCTAssertEqual(Set(rows.map(\.code)).count, rows.count)
        XCTAssertEqual(Set(rows.map(\.alpha3)).count, rows.count)
        for r in rows {
            XCTAssertTrue((2...3).contains(r.code.count) || r.code == "world", r.code)
            XCTAssertTrue(r.gramsPerKWh > 0 && r.gramsPerKWh < 1200, r.code)
            XCTAssertTrue((2015...2030).contains(r.year), r.code)
            XCTAssertFalse(r.source.isEmpty, r.code)
        }
        // Low-carbon grids are low and coal-heavy ones high: a sanity check on units.
        XCTAssertLessThan(GridIntensityTable.region("SE")!.gramsPerKWh, 100)
        XCTAssertGreaterThan(GridIntensityTable.region("PL")!.gramsPerKWh, 500)
    }

    func testCarbonFromTableRow() throws {
        let f = try CarbonFactors(intensity: GridIntensityTable.lookup("FR"), pue: 1.5)
        // 1 kWh at 67 g/kWh with 50% facility overhead.
        XCTAssertEqual(f.grams(joules: 3.6e6), 100.5, accuracy: 1e-9)
    }
}
