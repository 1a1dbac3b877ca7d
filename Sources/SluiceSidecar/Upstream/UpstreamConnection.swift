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

    func write(_ request: UpstreamRequest) {
        requestsStarted += 1
        let channel = self.channel
        channel.write(HTTPClientRequestPart.head(request.head), promise: nil)
        if request.body.readableBytes > 0 {
            channel.write(HTTPClientRequestPart.body(.byteBuffer(request.body)), promise: nil)
        }
        channel.writeAndFlush(HTTPClientRequestPart.end(nil), promise: nil)
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
        exchange?.connectionDidFail(UpstreamFailure(kind: .closed, detail: reason, responseStarted: false))
    }

    func didBecomeInactive() {
        closed = true
        exchange?.connectionDidFail(UpstreamFailure(kind: .closed, detail: "connection closed by \(key.endpoint)", responseStarted: false))
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
