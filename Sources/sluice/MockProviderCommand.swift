import ArgumentParser
import Foundation
import Logging
import NIOPosix
import ServiceLifecycle
import SluiceMockProvider

/// `sluice mock-provider`: the OpenAI- and Anthropic-compatible upstream stand-in.
struct MockProviderCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "mock-provider",
        abstract: "Serve a mock OpenAI/Anthropic provider for tests, benchmarks and local development.",
        discussion: """
        Per-request overrides by header: x-mock-latency-ms, x-mock-ttft-ms, x-mock-tps, \
        x-mock-output-tokens, x-mock-cached-tokens, x-mock-status, x-mock-hang (head|mid), \
        x-mock-reset (before|mid). Counts at GET /mock/stats; POST /mock/reset zeroes them.
        """
    )

    @OptionGroup var mock: MockOptions
    @OptionGroup var runtime: RuntimeOptions

    func run() async throws {
        runtime.bootstrapLogging()
        let logger = Logger(label: "sluice.mock-provider")
        let provider = try await MockProvider.start(mock.configuration(), group: MultiThreadedEventLoopGroup.singleton)
        try runtime.writePorts(["mock": provider.port])
        logger.info("mock provider listening", metadata: ["address": "\(provider.baseURL)"])
        try await RunUntilShutdown.runGroup([RunUntilShutdown { try await provider.shutdown() }], logger: logger)
    }
}

/// Mock provider behaviour, shared by `mock-provider` and `dev`.
struct MockOptions: ParsableArguments {
    @Option(name: .customLong("mock-listen"), help: "Listen address of the mock provider.")
    var listen: ListenAddress = ListenAddress(host: "127.0.0.1", port: 4300)

    @Option(name: .customLong("mock-latency-ms"), help: "Delay before each response head (non-streaming: the whole response).")
    var latencyMilliseconds: Int = 0

    @Option(name: .customLong("mock-ttft-ms"), help: "Streaming: delay before the first content event.")
    var timeToFirstTokenMilliseconds: Int = 0

    @Option(name: .customLong("mock-tps"), help: "Streaming pace in tokens per second (0: as fast as possible).")
    var tokensPerSecond: Double = 0

    @Option(name: .customLong("mock-error-rate"), help: "Fraction of requests answered 500.")
    var errorRate: Double = 0

    @Option(name: .customLong("mock-rate-limit-rate"), help: "Fraction of requests answered 429 with Retry-After.")
    var rateLimitRate: Double = 0

    @Option(name: .customLong("mock-output-tokens"), help: "Completion length when the request sets no max_tokens.")
    var outputTokens: Int = 16

    @Option(name: .customLong("mock-tls-cert"), help: "PEM certificate chain: serve HTTPS.")
    var tlsCertificate: String?

    @Option(name: .customLong("mock-tls-key"), help: "PEM private key for --mock-tls-cert.")
    var tlsKey: String?

    func configuration() throws -> MockProviderConfiguration {
        var configuration = MockProviderConfiguration()
        configuration.host = listen.host
        configuration.port = listen.port
        configuration.latencyMilliseconds = latencyMilliseconds
        configuration.timeToFirstTokenMilliseconds = timeToFirstTokenMilliseconds
        configuration.tokensPerSecond = tokensPerSecond
        configuration.errorRate = errorRate
        configuration.rateLimitRate = rateLimitRate
        configuration.outputTokens = outputTokens
        switch (tlsCertificate, tlsKey) {
        case let (certificate?, key?):
            configuration.tls = .init(certificateChainFile: certificate, privateKeyFile: key)
        case (nil, nil):
            break
        default:
            throw ValidationError("--mock-tls-cert and --mock-tls-key go together")
        }
        return configuration
    }
}

/// A service that waits for graceful shutdown (SIGTERM/SIGINT), then runs `stop`.
struct RunUntilShutdown: Service {
    let stop: @Sendable () async throws -> Void

    func run() async throws {
        try? await gracefulShutdown()
        try await stop()
    }

    /// Runs `services` in a group that shuts down gracefully on SIGTERM and SIGINT.
    static func runGroup(_ services: [any Service], logger: Logger) async throws {
        let group = ServiceGroup(configuration: .init(
            services: services, gracefulShutdownSignals: [.sigterm, .sigint], logger: logger
        ))
        try await group.run()
    }
}
