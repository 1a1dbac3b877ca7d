import NIOConcurrencyHelpers
import NIOCore
import NIOHTTP1
import NIOPosix
import NIOSSL

/// An OpenAI- and Anthropic-compatible HTTP server standing in for an LLM provider in tests and
/// benchmarks: deterministic content, realistic `usage`, configurable misbehaviour, and exact
/// counts of what it served (``stats()`` / `GET /mock/stats`).
///
/// Endpoints: `POST /v1/chat/completions`, `/v1/completions`, `/v1/embeddings`, `/v1/responses`
/// (OpenAI), `/v1/messages`, `/v1/messages/count_tokens` (Anthropic),
/// `/openai/deployments/{deployment}/chat/completions|completions|embeddings?api-version=…`
/// (Azure OpenAI: `api-key` or `Authorization: Bearer` required, else 401; no `api-version`:
/// 404 `Resource not found`; the deployment is the model); `GET /mock/stats`,
/// `POST /mock/reset` (zeroes the stats and clears scripted faults), `GET /mock/ready`;
/// `POST /mock/faults` (a ``MockFaultScript``), `GET /mock/faults`, `DELETE /mock/faults`.
///
/// Per-request headers override the configuration: `x-mock-latency-ms`, `x-mock-ttft-ms`,
/// `x-mock-tps`, `x-mock-output-tokens`, `x-mock-cached-tokens`, `x-mock-status` (400–599),
/// `x-mock-hang: head|mid`, `x-mock-reset: before|mid`. A scripted fault for the request's model
/// (or deployment) overrides those in turn.
///
/// Chat completions and messages requests with `tools` are answered with a call to the chosen
/// tool (the `tool_choice` one, else the first; arguments built from its schema), streamed or not, unless the last message is a tool result.
public final class MockProvider: Sendable {
    /// The configuration it was started with.
    public let configuration: MockProviderConfiguration
    /// The bound port (the real one when configured with port 0).
    public let port: Int

    private let serverChannel: any Channel
    private let shared: MockShared
    private let connections: NIOLockedValueBox<Connections>

    private struct Connections {
        var open: [ObjectIdentifier: any Channel] = [:]
        var closed = false
    }

    private init(configuration: MockProviderConfiguration, port: Int, serverChannel: any Channel, shared: MockShared, connections: NIOLockedValueBox<Connections>) {
        self.configuration = configuration
        self.port = port
        self.serverChannel = serverChannel
        self.shared = shared
        self.connections = connections
    }

    /// Binds and starts serving on `group`.
    public static func start(
        _ configuration: MockProviderConfiguration,
        group: any EventLoopGroup = MultiThreadedEventLoopGroup.singleton
    ) async throws -> MockProvider {
        let sslContext: NIOSSLContext?
        if let tls = configuration.tls {
            let chain = try NIOSSLCertificate.fromPEMFile(tls.certificateChainFile).map { NIOSSLCertificateSource.certificate($0) }
            let key = try NIOSSLPrivateKey(file: tls.privateKeyFile, format: .pem)
            var tlsConfiguration = TLSConfiguration.makeServerConfiguration(certificateChain: chain, privateKey: .privateKey(key))
            tlsConfiguration.applicationProtocols = ["http/1.1"]
            sslContext = try NIOSSLContext(configuration: tlsConfiguration)
        } else {
            sslContext = nil
        }
        let shared = MockShared(configuration: configuration)
        let connections = NIOLockedValueBox(Connections())

        let bootstrap = ServerBootstrap(group: group)
            .serverChannelOption(.backlog, value: 4096)
            .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
            .childChannelOption(.socketOption(.tcp_nodelay), value: 1)
            .childChannelOption(.maxMessagesPerRead, value: 16)
            .childChannelInitializer { channel in
                let id = ObjectIdentifier(channel)
                let accepted = connections.withLockedValue { state -> Bool in
                    guard !state.closed else { return false }
                    state.open[id] = channel
                    return true
                }
                guard accepted else {
                    return channel.close()
                }
                channel.closeFuture.whenComplete { _ in
                    connections.withLockedValue { _ = $0.open.removeValue(forKey: id) }
                }
                return channel.eventLoop.makeCompletedFuture {
                    let pipeline = channel.pipeline.syncOperations
                    try pipeline.addHandler(MockFrontMarker(), name: MockFrontMarker.name)
                    if let sslContext {
                        try pipeline.addHandler(NIOSSLServerHandler(context: sslContext))
                    }
                    try pipeline.configureHTTPServerPipeline(withPipeliningAssistance: true, withErrorHandling: true)
                    try pipeline.addHandler(MockHTTPHandler(shared: shared))
                }
            }
        let channel = try await bootstrap.bind(host: configuration.host, port: configuration.port).get()
        let port = channel.localAddress?.port ?? configuration.port
        return MockProvider(configuration: configuration, port: port, serverChannel: channel, shared: shared, connections: connections)
    }

    /// `http://HOST:PORT` (or `https://`), with a wildcard bind address replaced by the loopback one.
    public var baseURL: String {
        let scheme = self.configuration.tls == nil ? "http" : "https"
        var host = self.configuration.host
        if host == "0.0.0.0" || host.isEmpty {
            host = "127.0.0.1"
        } else if host == "::" {
            host = "::1"
        }
        if host.contains(":") { host = "[" + host + "]" }
        return "\(scheme)://\(host):\(self.port)"
    }

    /// A snapshot of the counters (thread-safe).
    public func stats() -> MockProviderStats {
        self.shared.recorder.snapshot()
    }

    /// Zeroes the counters (`POST /mock/reset` also clears the scripted faults: ``clearFaults()``).
    public func resetStats() {
        self.shared.recorder.reset()
    }

    /// Installs `script` for its model, replacing an earlier one (like `POST /mock/faults`).
    public func setFaults(_ script: MockFaultScript) {
        self.shared.faults.withLockedValue { $0.install(script) }
    }

    /// Removes every scripted fault (like `DELETE /mock/faults`).
    public func clearFaults() {
        self.shared.faults.withLockedValue { $0.clear() }
    }

    /// Stops listening and closes every open connection (hung ones included).
    public func shutdown() async throws {
        let open = self.connections.withLockedValue { state -> [any Channel] in
            state.closed = true
            return Array(state.open.values)
        }
        try await self.serverChannel.close()
        for channel in open {
            try? await channel.close()
        }
    }
}
