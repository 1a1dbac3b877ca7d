import NIOCore
import NIOHTTP1

/// The exchange holding an upstream connection: gets the response parts, the moment the
/// request was fully written, and the connection's loss. All calls come on the loop.
protocol UpstreamConnectionDelegate: AnyObject {
    /// A decoded response part.
    func connectionDidReceive(_ part: HTTPClientResponsePart)
    /// The request's last byte was handed to the kernel (see ``UpstreamConnection/RequestWrite``).
    func connectionDidWriteRequest()
    /// The connection closed (peer, error, or reset) while this delegate held it; called
    /// once, after which the connection is detached.
    func connectionDidClose(_ loss: UpstreamConnectionLoss)
}

/// One keep-alive HTTP/1.1 connection to a provider, owned by its loop's ``UpstreamPool``.
final class UpstreamConnection {
    /// How much of the current request has been written.
    ///
    /// "Written" means handed to the kernel: the write promise of the request's `.end` part
    /// succeeded, so every byte of the request left NIO's buffers for the socket's send
    /// buffer. It says nothing about whether the peer received or read it. Until then the
    /// peer cannot hold the whole request, so it cannot have processed it; once written, it
    /// may have (RFC 9110 §9.2.2: only then is a non-idempotent request unsafe to re-send).
    enum RequestWrite: Equatable {
        /// No request written since the connection was handed over.
        case notStarted
        /// The request is being written: part of it may be in the kernel, not its end.
        /// A connection lost in this state failed the write or closed before it finished.
        case writing
        /// The request's last byte was handed to the kernel.
        case written
    }

    let channel: any Channel
    let key: UpstreamPool.Key
    /// Requests written on this connection so far (more than one means it was reused).
    private(set) var requestsStarted = 0
    /// Whether reads are on (`autoRead`); tracked so that restoring it costs a compare.
    private(set) var isReading = true
    /// How far the current request got.
    private(set) var requestWrite = RequestWrite.notStarted
    /// Whether anything of the current request's response arrived: a decoded part, or
    /// bytes the HTTP decoder rejected (a partial head before the peer closed counts).
    private(set) var responseStarted = false
    private weak var delegate: (any UpstreamConnectionDelegate)?
    private var closed = false
    private var failureDetail: String?
    /// Called once when the channel goes inactive (the pool forgets the connection).
    var onClose: ((UpstreamConnection) -> Void)?

    init(channel: any Channel, key: UpstreamPool.Key) {
        self.channel = channel
        self.key = key
    }

    var isActive: Bool { !closed && channel.isActive }

    func attach(_ delegate: any UpstreamConnectionDelegate) {
        self.delegate = delegate
        requestWrite = .notStarted
        responseStarted = false
    }

    func detach() {
        delegate = nil
    }

    /// Writes and flushes one request; ``requestWrite`` becomes `.written` and the delegate
    /// hears ``UpstreamConnectionDelegate/connectionDidWriteRequest()`` when its last byte
    /// is in the kernel.
    func write(_ request: UpstreamRequest) {
        requestsStarted += 1
        requestWrite = .writing
        responseStarted = false
        let channel = self.channel
        channel.write(HTTPClientRequestPart.head(request.head), promise: nil)
        if request.body.readableBytes > 0 {
            channel.write(HTTPClientRequestPart.body(.byteBuffer(request.body)), promise: nil)
        }
        let written = channel.eventLoop.makePromise(of: Void.self)
        let number = requestsStarted
        written.futureResult.assumeIsolated().whenSuccess { [weak self] in
            guard let self, self.requestsStarted == number, self.requestWrite == .writing else { return }
            self.requestWrite = .written
            self.delegate?.connectionDidWriteRequest()
        }
        channel.writeAndFlush(HTTPClientRequestPart.end(nil), promise: written)
    }

    /// Switches reads on or off (backpressure from a slow client); a no-op when unchanged.
    func setAutoRead(_ on: Bool) {
        guard on != isReading, let options = channel.syncOptions else { return }
        isReading = on
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
        responseStarted = true
        if let delegate {
            delegate.connectionDidReceive(part)
        } else if !closed {
            // Bytes on an idle connection: the peer is confused; drop the connection.
            close()
        }
    }

    /// An error in the pipeline; the handler closes the channel next, and the loss is
    /// reported from ``didBecomeInactive()`` with this as its detail.
    func didFail(_ error: any Error) {
        if error is HTTPParserError { responseStarted = true }
        if failureDetail == nil { failureDetail = "\(error)" }
    }

    func didBecomeInactive() {
        closed = true
        if let delegate {
            self.delegate = nil
            delegate.connectionDidClose(UpstreamConnectionLoss(
                detail: failureDetail ?? "connection closed by \(key.endpoint)",
                requestWrite: requestWrite,
                responseStarted: responseStarted,
                wasReused: requestsStarted > 1
            ))
        }
        let onClose = self.onClose
        self.onClose = nil
        onClose?(self)
    }
}

extension UpstreamConnection: Hashable {
    static func == (lhs: UpstreamConnection, rhs: UpstreamConnection) -> Bool { lhs === rhs }
    func hash(into hasher: inout Hasher) { hasher.combine(ObjectIdentifier(self)) }
}

/// What a connection knew when it was lost under an exchange: enough to tell whether the
/// provider can have processed the request.
struct UpstreamConnectionLoss: Equatable, CustomStringConvertible {
    /// The pipeline's error, or "connection closed by …".
    var detail: String
    var requestWrite: UpstreamConnection.RequestWrite
    /// Whether any response byte had arrived.
    var responseStarted: Bool
    /// Whether an earlier request used the connection (a keep-alive reuse).
    var wasReused: Bool

    /// The provider cannot have processed the request: no response byte came and the
    /// request's end never reached the kernel (the write failed, or the connection closed
    /// before it finished). Only then may a non-idempotent request be re-sent (RFC 9110
    /// §9.2.2). A request that was written and then met a close is not covered, even on a
    /// reused connection: the provider may have acted on it.
    var requestUnprocessed: Bool { !responseStarted && requestWrite != .written }

    var description: String { detail }
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
        connection?.didFail(error)
        context.close(promise: nil)
    }

    func channelInactive(context: ChannelHandlerContext) {
        connection?.didBecomeInactive()
        connection = nil
        context.fireChannelInactive()
    }
}
