import Foundation
import Logging
import NIOCore
import NIOPosix
import SluiceMockProvider
import SluicePolicy
import SluiceSidecar

/// A sidecar and a mock provider on loopback port 0, started with one call, for tests.
///
/// ```swift
/// let harness = try await SluiceTestHarness.start()
/// defer { Task { await harness.shutdown() } }
/// // POST to "\(harness.egressURL)/v1/chat/completions" …
/// ```
public final class SluiceTestHarness: Sendable {
    public let sidecar: Sidecar
    public let mock: MockProvider
    /// The credential the sidecar sends to the mock for every provider.
    public static let credential = "sk-test-harness"

    private init(sidecar: Sidecar, mock: MockProvider) {
        self.sidecar = sidecar
        self.mock = mock
    }

    /// `http://127.0.0.1:PORT` of the sidecar's egress listener.
    public var egressURL: String { "http://127.0.0.1:\(sidecar.egressPort)" }
    /// `http://127.0.0.1:PORT` of the sidecar's admin listener.
    public var adminURL: String { "http://127.0.0.1:\(sidecar.adminPort)" }

    /// A policy with an `openai` and an `anthropic` provider, both pointing at `baseURL`.
    public static func policy(mockBaseURL baseURL: String) -> Policy {
        Policy(
            providers: [
                "openai": Provider(name: "openai", kind: .openai, baseURL: baseURL, credential: .environment("HARNESS_KEY")),
                "anthropic": Provider(name: "anthropic", kind: .anthropic, baseURL: baseURL, credential: .environment("HARNESS_KEY")),
            ],
            models: [
                "gpt-4o-mini": Model(name: "gpt-4o-mini", provider: "openai", upstreamModel: "gpt-4o-mini-2024-07-18", prices: Prices(input: 0.15, output: 0.60, cachedInput: 0.075), aliases: ["fast"]),
                "claude-haiku": Model(name: "claude-haiku", provider: "anthropic", upstreamModel: "claude-3-5-haiku-latest", prices: Prices(input: 0.8, output: 4, cachedInput: 0.08)),
            ]
        )
    }

    /// Starts the mock provider, then a sidecar on `policy` (by default ``policy(mockBaseURL:)``).
    public static func start(
        mock mockConfiguration: MockProviderConfiguration = MockProviderConfiguration(),
        policy: ((String) -> Policy)? = nil,
        configure: (inout SidecarConfiguration) -> Void = { _ in }
    ) async throws -> SluiceTestHarness {
        let group = MultiThreadedEventLoopGroup.singleton
        let mock = try await MockProvider.start(mockConfiguration, group: group)
        var configuration = SidecarConfiguration(
            listenPort: 0, adminPort: 0, accessLog: .discard,
            environment: ["HARNESS_KEY": credential]
        )
        configure(&configuration)
        let resolvedPolicy = (policy ?? SluiceTestHarness.policy(mockBaseURL:))(mock.baseURL)
        do {
            let sidecar = try await Sidecar.start(
                policy: resolvedPolicy, version: "test", configuration: configuration,
                group: group, logger: Logger(label: "sluice.test")
            )
            return SluiceTestHarness(sidecar: sidecar, mock: mock)
        } catch {
            try? await mock.shutdown()
            throw error
        }
    }

    /// Stops both.
    public func shutdown() async {
        await sidecar.shutdown()
        try? await mock.shutdown()
    }
}
