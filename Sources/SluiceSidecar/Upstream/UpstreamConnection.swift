import NIOCore
import NIOHTTP1

/// One keep-alive HTTP/1.1 connection to a provider, owned by its loop's ``UpstreamPool``.
final class UpstreamConnection {
    let channel: any Channel
    let key: UpstreamPool.Key
    /// Requests written on this connection so far (more than one means it was reused).
    private(set) var requestsStarted = 0
    /// When it was last parked in the pool (monotonic nanoseconds).
    var parkedAtNanos: UInt64 = 0
    private weak var exchange: UpstreamExchange?
    private var closed = false
    var onClose: ((UpstreamConnection) -> Void)?

    init(channel: any Channel, key: UpstreamPool.Key) {
        self.channel = channel
        self.key = key
    }

    var isActive: Bool { !closed && channel.isActive }

    func attach(_ exchange: UpstreamExchange) {
        self.exchange = exchange
    }

    func detach() {
        exchange = nil
    }

    /// Writes a request; tells the attached exchange once its last byte was handed to the
    /// socket (written to the kernel, not necessarily read by the peer).
    func write(_ head: HTTPRequestHead, body: ByteBuffer) {
        requestsStarted += 1
        let channel = self.channel
        channel.write(HTTPClientRequestPart.head(head), promise: nil)
        if body.readableBytes > 0 {
            channel.write(HTTPClientRequestPart.body(.byteBuffer(body)), promise: nil)
        }
        let exchange = self.exchange
        channel.writeAndFlush(HTTPClientRequestPart.end(nil)).assumeIsolated().whenSuccess { [weak exchange] in
            exchange?.connectionDidWriteRequest()
        }
    }

    func setAutoRead(_ on: Bool) {
        guard let options = channel.syncOptions else { return }
        try? options.setOption(ChannelOptions.autoRead, value: on)
        if on { channel.read() }
    }

    func close() {
        guard !closed else { return }
        closed = true
        channel.close(promise: nil)
    }

    // MARK: From the channel handler

    func didRead(_ part: HTTPClientResponsePart) {
        if let exchange {
            exchange.connectionDidReceive(part)
        } else if !closed {
            // Bytes on an idle connection: the peer is confused; drop the connection.
            close()
        }
    }

    func didFail(_ reason: String) {
        exchange?.connectionDidFail(ResponseFailure(kind: .closed, detail: reason))
    }

    func didBecomeInactive() {
        closed = true
        exchange?.connectionDidFail(ResponseFailure(kind: .closed, detail: "connection closed by \(key.endpoint)"))
        onClose?(self)
    }
}

/// Hands the HTTP/1.1 client codec's output to its ``UpstreamConnection``.
final class UpstreamConnectionHandler: ChannelInboundHandler {
    typealias InboundIn = HTTPClientResponsePart

    private var connection: UpstreamConnection?

    func bind(_ connection: UpstreamConnection) {
        self.connection = connection
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        connection?.didRead(unwrapInboundIn(data))
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        connection?.didFail("\(error)")
        context.close(promise: nil)
    }

    func channelInactive(context: ChannelHandlerContext) {
        connection?.didBecomeInactive()
        connection = nil
        context.fireChannelInactive()
    }
}
