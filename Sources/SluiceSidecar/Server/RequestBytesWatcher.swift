import NIOCore

/// Reports raw client bytes to the connection's ``HTTPRequestTimeouts`` and closes the
/// connection when a timeout runs out (writing a raw `408` when allowed).
///
/// Place: the HTTP/1.1 connection pipeline, *before* the HTTP/1 decoder (first in the
/// pipeline, once the protocol detector has removed itself), so it sees every byte of
/// every request, including pipelined ones the server pipeline handler holds back.
/// Pair it with a ``RequestPhaseWatcher`` sharing the same ``HTTPRequestTimeouts``.
final class RequestBytesWatcher: ChannelInboundHandler, RemovableChannelHandler {
    typealias InboundIn = ByteBuffer
    typealias InboundOut = ByteBuffer

    private let timeouts: HTTPRequestTimeouts
    private let acceptedAt: NIODeadline?
    private var started = false

    /// - Parameters:
    ///   - timeouts: the connection's shared timeouts.
    ///   - acceptedAt: when the connection was accepted (the first head is due
    ///     `requestHead` after it); nil for "when this handler becomes active".
    init(timeouts: HTTPRequestTimeouts, acceptedAt: NIODeadline? = nil) {
        self.timeouts = timeouts
        self.acceptedAt = acceptedAt
    }

    func handlerAdded(context: ChannelHandlerContext) {
        timeouts.closer = .rawBytes(context)
        if context.channel.isActive { start() }
    }

    func handlerRemoved(context: ChannelHandlerContext) {
        timeouts.stop()
    }

    func channelActive(context: ChannelHandlerContext) {
        start()
        context.fireChannelActive()
    }

    func channelInactive(context: ChannelHandlerContext) {
        timeouts.stop()
        context.fireChannelInactive()
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        timeouts.bytesReceived()
        context.fireChannelRead(data)
    }

    private func start() {
        guard !started else { return }
        started = true
        timeouts.connectionStarted(at: acceptedAt ?? timeouts.now)
    }
}
