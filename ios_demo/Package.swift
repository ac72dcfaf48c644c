// swift-tools-version:5.10
// CamkitCore: the iOS app's pure core, Foundation only (no UIKit, Core ML or CoreGraphics), so
// `swift test` runs it on macOS and on Linux alike. The Swift 5 language mode (tools 5.10) is
// deliberate: the code was written without a compiler at hand (ios_demo/README.md), and Swift 6's
// strict concurrency checking would turn warnings about non-Sendable values into errors.
import PackageDescription

let package = Package(
    name: "CamkitCore",
    platforms: [.iOS("17.4"), .macOS(.v14)],
    products: [
        .library(name: "CamkitCore", targets: ["CamkitCore"]),
    ],
    targets: [
        .target(name: "CamkitCore", path: "Sources/CamkitCore"),
        .testTarget(
            name: "CamkitCoreTests",
            dependencies: ["CamkitCore"],
            path: "Tests/CamkitCoreTests"
        ),
    ]
)
