// swift-tools-version:6.0
// Sluice: a sidecar proxy for LLM traffic. One thin executable over library targets,
// each with one job (see README "Layout").
import PackageDescription

let package = Package(
    name: "sluice",
    platforms: [.macOS(.v14)],
    products: [
        .executable(name: "sluice", targets: ["sluice"]),
        .library(name: "SluicePolicy", targets: ["SluicePolicy"]),
        .library(name: "SluiceWire", targets: ["SluiceWire"]),
        .library(name: "SluiceTranslate", targets: ["SluiceTranslate"]),
        .library(name: "SluiceSidecar", targets: ["SluiceSidecar"]),
        .library(name: "SluiceMockProvider", targets: ["SluiceMockProvider"]),
        .library(name: "SluiceTestKit", targets: ["SluiceTestKit"]),
        .library(name: "SluiceSnapshot", targets: ["SluiceSnapshot"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-nio.git", from: "2.101.2"),
        .package(url: "https://github.com/apple/swift-nio-http2.git", from: "1.46.0"),
        .package(url: "https://github.com/apple/swift-nio-ssl.git", from: "2.37.6"),
        .package(url: "https://github.com/apple/swift-nio-extras.git", from: "1.35.2"),
        .package(url: "https://github.com/apple/swift-atomics.git", from: "1.3.0"),
        .package(url: "https://github.com/apple/swift-argument-parser.git", from: "1.8.2"),
        .package(url: "https://github.com/apple/swift-log.git", from: "1.16.2"),
        .package(url: "https://github.com/apple/swift-metrics.git", from: "2.13.0"),
        .package(url: "https://github.com/swift-server/swift-prometheus.git", from: "2.4.1"),
        .package(url: "https://github.com/swift-server/swift-service-lifecycle.git", from: "2.13.0"),
        .package(url: "https://github.com/jpsim/Yams.git", from: "6.2.2"),
        .package(url: "https://github.com/apple/swift-crypto.git", "3.12.3"..<"5.0.0"),
    ],
    targets: [
        // The operator's policy file: typed model, YAML loading with positions, validation.
        .target(
            name: "SluicePolicy",
            dependencies: [.product(name: "Yams", package: "Yams")]
        ),
        // Provider wire formats: endpoints, request scanning, usage, SSE, error bodies.
        .target(
            name: "SluiceWire",
            dependencies: [.product(name: "NIOCore", package: "swift-nio")]
        ),
        // Cross-vendor translation: OpenAI chat completions <-> Anthropic messages, streams too.
        .target(name: "SluiceTranslate", dependencies: ["SluiceWire"]),
        // The data plane: listeners, the request pipeline and its stages, upstream pool.
        .target(
            name: "SluiceSidecar",
            dependencies: [
                "SluicePolicy",
                "SluiceWire",
                "SluiceTranslate",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOConcurrencyHelpers", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "NIOHTTP2", package: "swift-nio-http2"),
                .product(name: "NIOSSL", package: "swift-nio-ssl"),
                .product(name: "NIOTLS", package: "swift-nio"),
                .product(name: "NIOExtras", package: "swift-nio-extras"),
                .product(name: "Atomics", package: "swift-atomics"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Metrics", package: "swift-metrics"),
                .product(name: "Prometheus", package: "swift-prometheus"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ]
        ),
        // The upstream stand-in for tests, benchmarks and `sluice dev`.
        .target(
            name: "SluiceMockProvider",
            dependencies: [
                "SluiceWire",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOConcurrencyHelpers", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "NIOSSL", package: "swift-nio-ssl"),
            ]
        ),
        // One-call start of a sidecar and a mock provider on port 0, for tests.
        .target(
            name: "SluiceTestKit",
            dependencies: [
                "SluiceSidecar", "SluiceMockProvider", "SluicePolicy",
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "Logging", package: "swift-log"),
            ]
        ),
        // Signed policy snapshots: the wire envelope, Ed25519 signing/verification, key files.
        .target(
            name: "SluiceSnapshot",
            dependencies: [.product(name: "Crypto", package: "swift-crypto")]
        ),
        // The thin command-line front: subcommands over the library targets.
        .executableTarget(
            name: "sluice",
            dependencies: [
                "SluicePolicy",
                "SluiceSidecar",
                "SluiceMockProvider",
                "SluiceSnapshot",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ]
        ),
        .testTarget(name: "SluicePolicyTests", dependencies: ["SluicePolicy"], resources: [.copy("Fixtures")]),
        .testTarget(name: "SluiceWireTests", dependencies: ["SluiceWire"]),
        .testTarget(
            name: "SluiceTranslateTests",
            dependencies: ["SluiceTranslate", "SluiceWire", .product(name: "NIOCore", package: "swift-nio")],
            resources: [.copy("Fixtures")]
        ),
        .testTarget(
            name: "SluiceSidecarTests",
            dependencies: [
                "SluiceSidecar", "SluiceMockProvider", "SluiceTestKit",
                .product(name: "NIOEmbedded", package: "swift-nio"),
            ]
        ),
        .testTarget(name: "SluiceMockProviderTests", dependencies: ["SluiceMockProvider"]),
        .testTarget(name: "SluiceSnapshotTests", dependencies: ["SluiceSnapshot"]),
    ],
    swiftLanguageModes: [.v6]
)

// MARK: - Fuzzing (only when SLUICE_FUZZ is set)
// libFuzzer targets for the modules that read untrusted bytes: Fuzz/<Target>/, seeds in
// Fuzz/Corpus/<Target>/. They exist only when the environment sets SLUICE_FUZZ, so normal
// builds, `swift test` and CI's main build never see them. scripts/fuzz builds each product
// on its own (only its small dependency closure compiles) with
//   SLUICE_FUZZ=1 swift build -c release --scratch-path .build-fuzz --product FuzzJSON \
//       --sanitize fuzzer --sanitize address
// (`--sanitize fuzzer` links libFuzzer's main and compiles the targets as libraries).
import Foundation

if ProcessInfo.processInfo.environment["SLUICE_FUZZ"] != nil {
    let nioCore = Target.Dependency.product(name: "NIOCore", package: "swift-nio")
    let fuzzTargets: [(name: String, dependencies: [Target.Dependency])] = [
        ("FuzzJSON", ["SluiceWire", nioCore]),
        ("FuzzSSE", ["SluiceWire", nioCore]),
        ("FuzzPreface", ["SluiceWire"]),
        ("FuzzPolicy", ["SluicePolicy"]),
        ("FuzzTranslate", ["SluiceTranslate", "SluiceWire", nioCore]),
        ("FuzzSnapshot", ["SluiceSnapshot", .product(name: "Crypto", package: "swift-crypto")]),
    ]
    for target in fuzzTargets {
        package.targets.append(.executableTarget(name: target.name, dependencies: target.dependencies, path: "Fuzz/\(target.name)"))
        package.products.append(.executable(name: target.name, targets: [target.name]))
    }
}
