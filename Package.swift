// swift-tools-version: 6.0
// Frugal: energy-efficient neural networks in Swift.
// No unsafe build-flag settings anywhere: other packages must be able to depend on Frugal
// ISA-specific inner loops live in CFrugalKernels with __attribute__((target)) and
// run-time CPUID dispatch instead of compiler flags.
import PackageDescription

let swift5: [SwiftSetting] = [.swiftLanguageMode(.v5)]

let package = Package(
    name: "Frugal",
    platforms: [.macOS(.v15)],
    products: [
        .library(name: "FrugalCore", targets: ["FrugalCore"]),
        .library(name: "FrugalEngine", targets: ["FrugalEngine"]),
        .library(name: "FrugalONNX", targets: ["FrugalONNX"]),
        .library(name: "FrugalTraining", targets: ["FrugalTraining"]),
        .library(name: "FrugalEnergy", targets: ["FrugalEnergy"]),
        .executable(name: "frugal", targets: ["frugal"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.8.2"),
        .package(url: "https://github.com/apple/swift-protobuf", from: "1.39.0"),
    ],
    targets: [
        .target(name: "CFrugalKernels"),
        .systemLibrary(
            name: "CZlib", path: "Sources/CZlib", pkgConfig: "zlib",
            providers: [.apt(["zlib1g-dev"]), .brew(["zlib"])]),
        .target(name: "FrugalCore", dependencies: ["CFrugalKernels"], swiftSettings: swift5),
        .target(name: "FrugalEngine", dependencies: ["FrugalCore"], swiftSettings: swift5),
        .target(
            name: "FrugalONNX",
            dependencies: ["FrugalEngine", .product(name: "SwiftProtobuf", package: "swift-protobuf")],
            swiftSettings: swift5),
        .target(name: "FrugalTraining", dependencies: ["FrugalEngine", "FrugalCore", "CZlib"], swiftSettings: swift5),
        .target(name: "FrugalEnergy", dependencies: ["FrugalEngine", "FrugalCore"], swiftSettings: swift5),
        .executableTarget(
            name: "frugal",
            dependencies: [
                "FrugalCore",
                "FrugalEngine",
                "FrugalONNX",
                "FrugalTraining",
                "FrugalEnergy",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ],
            swiftSettings: swift5),
        .testTarget(
            name: "FrugalCoreTests", dependencies: ["FrugalCore"], exclude: ["Fixtures"], swiftSettings: swift5),
        .testTarget(
            name: "FrugalEngineTests", dependencies: ["FrugalEngine", "FrugalONNX", "FrugalCore"],
            exclude: ["Fixtures"], swiftSettings: swift5),
        .testTarget(
            name: "FrugalTrainingTests", dependencies: ["FrugalTraining", "FrugalEngine", "FrugalCore"], swiftSettings: swift5),
        .testTarget(
            name: "FrugalEnergyTests", dependencies: ["FrugalEnergy", "FrugalEngine", "FrugalCore", "FrugalONNX", "FrugalTraining"], swiftSettings: swift5),
        .testTarget(name: "PackagingTests", swiftSettings: swift5),
    ]
)
