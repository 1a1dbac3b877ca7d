import NIOCore
import NIOExtras
import NIOHTTP1
import NIOHTTP2
import NIOPosix

/// The app-facing listener: HTTP/1.1 and cleartext HTTP/2 (prior knowledge) on one port,
/// every connection served on its accepting event loop by an ``EgressHandler``.
final class EgressServer: Sendable {
    let channel: any Channel
    let port: Int

    private init(channel: any Channel) {
        self.channel = channel
        self.port = channel.localAddress?.port ?? 0
    }

    /// Binds and starts accepting.
    static func start(
        host: String, port: Int, group: any EventLoopGroup,
        loops: LoopContexts, settings: EgressSettings, pipeline: Pipeline,
        quiescing: ServerQuiescingHelper, drainGracePeriod: TimeAmount,
        connections: OpenConnections
    ) async throws -> EgressServer {
        let limits = settings.limits
        let http1Timeouts = HTTP1TimeoutStateMachine.Configuration(requestHead: limits.requestHeadTimeout, requestBody: limits.requestBodyTimeout, keepAlive: limits.keepAliveTimeout)
        // HTTP/2 streams: head and body per stream; idle connections are the connection
        // manager's (maxIdleTime).
        let streamTimeouts = HTTP1TimeoutStateMachine.Configuration(requestHead: limits.requestHeadTimeout, requestBody: limits.requestBodyTimeout, keepAlive: nil)
        let channel = try await ServerBootstrap(group: group)
            .serverChannelInitializer { channel in
                do {
                    try channel.pipeline.syncOperations.addHandler(quiescing.makeServerChannelHandler(channel: channel))
                    try channel.pipeline.syncOperations.addHandler(ConnectionLimiter(connections: connections))
                    return channel.eventLoop.makeSucceededVoidFuture()
                } catch {
                    return channel.eventLoop.makeFailedFuture(error)
                }
            }
            .serverChannelOption(ChannelOptions.backlog, value: 1024)
            .serverChannelOption(ChannelOptions.socketOption(.so_reuseaddr), value: 1)
            .childChannelOption(ChannelOptions.socketOption(.tcp_nodelay), value: 1)
            .childChannelOption(ChannelOptions.maxMessagesPerRead, value: 16)
            .childChannelInitializer { channel in
                guard let loop = loops.context(for: channel.eventLoop) else {
                    return channel.eventLoop.makeFailedFuture(ChannelError.ioOnClosedChannel)
                }
                let accepted = channel.eventLoop.now
                loop.track(channel)
                let detector = HTTPVersionDetector(
                    decisionTimeout: limits.requestHeadTimeout,
                    http1: { sync in
                        // Head, body and keep-alive timeouts: raw bytes seen before the
                        // decoder, request and response phases after it, one timer.
                        let timeouts = HTTPRequestTimeouts(configuration: http1Timeouts, eventLoop: channel.eventLoop)
                        try sync.addHandler(RequestBytesWatcher(timeouts: timeouts, acceptedAt: accepted))
                        // Outbound headers are built by Sluice from headers NIO's decoders already
                        // checked, so the second validation pass is skipped. Pipelining is
                        // handled by EgressHandler without toggling reads per request.
                        try sync.configureHTTPServerPipeline(
                            withPipeliningAssistance: false, withServerUpgrade: nil,
                            withErrorHandling: true, withOutboundHeaderValidation: false
                        )
                        try sync.addHandler(RequestPhaseWatcher(timeouts: timeouts, closesStream: false))
                        try sync.addHandler(EgressHandler(loop: loop, settings: settings, pipeline: pipeline, transport: .h1))
                    },
                    http2: { sync in
                        var connection = NIOHTTP2Handler.ConnectionConfiguration()
                        connection.initialSettings = [
                            HTTP2Setting(parameter: .maxConcurrentStreams, value: settings.limits.maxConcurrentStreams),
                            HTTP2Setting(parameter: .maxHeaderListSize, value: 64 * 1024),
                            HTTP2Setting(parameter: .initialWindowSize, value: 1 << 20),
                        ]
                        // Closes idle connections. The drain is the drain handler's: GOAWAY
                        // only after the streams in flight, new streams refused meanwhile.
                        let manager = NIOHTTP2ServerConnectionManagementHandler(
                            eventLoop: channel.eventLoop,
                            configuration: .init(maxIdleTime: settings.limits.keepAliveTimeout, maxAge: nil, maxGraceTime: drainGracePeriod, keepalive: nil)
                        )
                        let drain = HTTP2DrainHandler(eventLoop: channel.eventLoop)
                        _ = try sync.configureHTTP2Pipeline(
                            mode: .server,
                            connectionConfiguration: connection,
                            streamConfiguration: NIOHTTP2Handler.StreamConfiguration(),
                            streamDelegate: drain.streamDelegate(forwardingTo: manager.http2StreamDelegate),
                            inboundStreamInitializer: drain.streamInitializer { stream in
                            do {
                                try stream.pipeline.syncOperations.addHandler(HTTP2FramePayloadToHTTP1ServerCodec())
                                let timeouts = HTTPRequestTimeouts(configuration: streamTimeouts, eventLoop: stream.eventLoop)
                                try stream.pipeline.syncOperations.addHandler(RequestPhaseWatcher(timeouts: timeouts, closesStream: true))
                                try stream.pipeline.syncOperations.addHandler(EgressHandler(loop: loop, settings: settings, pipeline: pipeline, transport: .h2))
                                return stream.eventLoop.makeSucceededVoidFuture()
                            } catch {
                                return stream.eventLoop.makeFailedFuture(error)
                            }
                        })
                        try sync.addHandler(drain)
                        try sync.addHandler(manager)
                        try sync.addHandler(CloseOnConnectionError())
                    }
                )
                do {
                    try channel.pipeline.syncOperations.addHandler(detector)
                    return channel.eventLoop.makeSucceededVoidFuture()
                } catch {
                    return channel.eventLoop.makeFailedFuture(error)
                }
            }
            .bind(host: host, port: port)
            .get()
        return EgressServer(channel: channel)
    }

    /// Stops accepting new connections.
    func stopAccepting() async {
        try? await channel.close()
    }
}

/// The per-loop contexts, looked up by event loop when a connection arrives.
final class LoopContexts: Sendable {
    let all: [LoopContext]
    private let byLoop: [ObjectIdentifier: LoopContext]

    init(_ contexts: [LoopContext]) {
        self.all = contexts
        var map: [ObjectIdentifier: LoopContext] = [:]
        for context in contexts { map[ObjectIdentifier(context.eventLoop)] = context }
        self.byLoop = map
    }

    func context(for loop: any EventLoop) -> LoopContext? {
        byLoop[ObjectIdentifier(loop)]
    }
}

/// Closes an HTTP/2 connection after a connection error (the HTTP/2 handler has sent
/// GOAWAY; RFC 9113 §5.4.1 requires the TCP connection to close too). Stream errors stay
/// with their stream.
final class CloseOnConnectionError: ChannelInboundHandler, Sendable {
    typealias InboundIn = HTTP2Frame

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        if error is NIOHTTP2Errors.StreamError { return }
        context.close(promise: nil)
    }
}
