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
        abstract: "Serve a mock OpenAI/Anthropic/Azure OpenAI provider for tests, benchmarks and local development.",
        discussion: """
        Serves /v1/chat/completions, /v1/completions, /v1/embeddings, /v1/responses, /v1/messages, \
        /v1/messages/count_tokens and Azure's /openai/deployments/{deployment}/chat/completions \
        (also /completions, /embeddings) with ?api-version= and an api-key header. Requests with \
        tools are answered with a tool call.

        Per-request overrides by header: x-mock-latency-ms, x-mock-ttft-ms, x-mock-tps, \
        x-mock-output-tokens, x-mock-cached-tokens, x-mock-status, x-mock-hang (head|mid), \
        x-mock-reset (before|mid).

        Scripted faults by model: POST /mock/faults with \
        {"model": "gpt-4o", "faults": [{"status": 503}, {"status": 429, "retry_after": 1}, \
        {"hang": "head"}, {"reset": "mid"}, {"ttft_ms": 3000}, {}], "then": {"status": 500}}; \
        each request for that model (or Azure deployment; "*" for any) takes the next fault, \
        then "then" for ever. GET /mock/faults shows them, DELETE /mock/faults clears them.

        Counts at GET /mock/stats; POST /mock/reset zeroes them and clears the faults.
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

    @Option(name: .customLong("mock-retry-after"), help: "Retry-After seconds on 429 answers.")
    var retryAfterSeconds: Int = 1

    @Option(name: .customLong("mock-retry-after-ms"), help: "Also send retry-after-ms with this value on 429 answers.")
    var retryAfterMilliseconds: Int?

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
        guard retryAfterSeconds >= 0, (retryAfterMilliseconds ?? 0) >= 0 else {
            throw ValidationError("--mock-retry-after and --mock-retry-after-ms must not be negative")
        }
        configuration.retryAfterSeconds = retryAfterSeconds
        configuration.retryAfterMilliseconds = retryAfterMilliseconds
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
