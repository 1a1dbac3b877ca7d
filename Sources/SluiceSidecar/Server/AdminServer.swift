import NIOCore
import NIOHTTP1
import NIOPosix

/// The sidecar's admin listener: `/live`, `/ready` and `/metrics` for the kubelet and
/// Prometheus. Small and separate from the egress port so probes never queue behind calls.
final class AdminServer: Sendable {
    /// Answers one admin path; returns nil for unknown paths.
    typealias Responder = @Sendable (_ path: String) -> (status: HTTPResponseStatus, contentType: String, body: String)?

    let channel: any Channel
    let port: Int

    private init(channel: any Channel) {
        self.channel = channel
        self.port = channel.localAddress?.port ?? 0
    }

    static func start(host: String, port: Int, group: any EventLoopGroup, responder: @escaping Responder) async throws -> AdminServer {
        let channel = try await ServerBootstrap(group: group)
            .serverChannelOption(ChannelOptions.socketOption(.so_reuseaddr), value: 1)
            .childChannelInitializer { channel in
                do {
                    try channel.pipeline.syncOperations.configureHTTPServerPipeline(withErrorHandling: true)
                    try channel.pipeline.syncOperations.addHandler(AdminHandler(responder: responder))
                    return channel.eventLoop.makeSucceededVoidFuture()
                } catch {
                    return channel.eventLoop.makeFailedFuture(error)
                }
            }
            .bind(host: host, port: port)
            .get()
        return AdminServer(channel: channel)
    }

    func close() async {
        try? await channel.close()
    }
}

/// Serves admin requests from a ``AdminServer/Responder``.
private final class AdminHandler: ChannelInboundHandler {
    typealias InboundIn = HTTPServerRequestPart
    typealias OutboundOut = HTTPServerResponsePart

    private let responder: AdminServer.Responder
    private var head: HTTPRequestHead?

    init(responder: @escaping AdminServer.Responder) {
        self.responder = responder
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        switch unwrapInboundIn(data) {
        case .head(let head):
            self.head = head
        case .body:
            break
        case .end:
            guard let head else { return }
            self.head = nil
            let path = String(head.uri.split(separator: "?", maxSplits: 1).first ?? "")
            let answer: (status: HTTPResponseStatus, contentType: String, body: String)
            if head.method != .GET && head.method != .HEAD {
                answer = (.methodNotAllowed, "text/plain", "use GET\n")
            } else {
                answer = responder(path) ?? (.notFound, "text/plain", "not found: try /live, /ready or /metrics\n")
            }
            var headers = HTTPHeaders()
            headers.add(name: "content-type", value: answer.contentType)
            headers.add(name: "content-length", value: String(answer.body.utf8.count))
            if !head.isKeepAlive { headers.add(name: "connection", value: "close") }
            context.write(wrapOutboundOut(.head(HTTPResponseHead(version: head.version, status: answer.status, headers: headers))), promise: nil)
            if head.method != .HEAD {
                var buffer = context.channel.allocator.buffer(capacity: answer.body.utf8.count)
                buffer.writeString(answer.body)
                context.write(wrapOutboundOut(.body(.byteBuffer(buffer))), promise: nil)
            }
            let keepAlive = head.isKeepAlive
            context.writeAndFlush(wrapOutboundOut(.end(nil))).assumeIsolated().whenComplete { _ in
                if !keepAlive { context.close(promise: nil) }
            }
        }
    }
}
