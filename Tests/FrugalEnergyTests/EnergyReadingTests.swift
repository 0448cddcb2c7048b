import XCTest
@testable import FrugalEnergy

final class EnergyReadingTests: XCTestCase {
    func testKilowattHours() {
        let r = EnergyReading(joules: 3.6e6, kind: .measured, source: "test")
        XCTAssertEqual(r.kilowattHours, 1.0, accuracy: 1e-12)
        XCTAssertEqual(EnergyKind.estimated.rawValue, "estimated")
    }
}
