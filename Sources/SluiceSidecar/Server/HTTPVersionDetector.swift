import NIOCore
import SluiceWire

/// Tells an HTTP/2 prior-knowledge connection from HTTP/1.1 by its first bytes, then
/// installs the matching pipeline and steps aside.
///
/// swift-nio-http2 has no detector for cleartext HTTP/2 with prior knowledge, so this
/// buffers only until the bytes either diverge from the HTTP/2 connection preface or
/// match all 24 of it; an HTTP/1.1 request line diverges at its first byte. Undecided
/// bytes are therefore a matching prefix of the preface: fewer than 24 are ever held.
/// When the first bytes do not decide within `decisionTimeout` (counted from when the
/// handler is added to an active channel, i.e. from accept), the connection is closed.
final class HTTPVersionDetector: ChannelInboundHandler, RemovableChannelHandler {
    typealias InboundIn = ByteBuffer
    typealias InboundOut = ByteBuffer

    static let preface = Array("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n".utf8)

    private let configureHTTP1: (ChannelPipeline.SynchronousOperations) throws -> Void
    private let configureHTTP2: (ChannelPipeline.SynchronousOperations) throws -> Void
    private let decisionTimeout: TimeAmount?
    private var buffered: ByteBuffer?
    private var timer: Scheduled<Void>?
    private var decided = false

    /// The most bytes held while undecided (for tests; always below the preface length).
    private(set) var largestBuffer = 0

    /// - Parameters:
    ///   - decisionTimeout: how long the first bytes may take to decide (the sidecar's
    ///     `--request-head-timeout`); nil for no limit.
    ///   - http1: installs the HTTP/1.1 pipeline.
    ///   - http2: installs the HTTP/2 pipeline.
    init(
        decisionTimeout: TimeAmount? = nil,
        http1: @escaping (ChannelPipeline.SynchronousOperations) throws -> Void,
        http2: @escaping (ChannelPipeline.SynchronousOperations) throws -> Void
    ) {
        self.decisionTimeout = decisionTimeout
        self.configureHTTP1 = http1
        self.configureHTTP2 = http2
    }

    func handlerAdded(context: ChannelHandlerContext) {
        if context.channel.isActive { startTimer(context: context) }
    }

    func channelActive(context: ChannelHandlerContext) {
        startTimer(context: context)
        context.fireChannelActive()
    }

    func channelInactive(context: ChannelHandlerContext) {
        cancelTimer()
        context.fireChannelInactive()
    }

    func handlerRemoved(context: ChannelHandlerContext) {
        cancelTimer()
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        guard !decided else {
            context.fireChannelRead(data)
            return
        }
        var chunk = unwrapInboundIn(data)
        let held = buffered?.readableBytes ?? 0
        guard let isHTTP2 = Self.decide(chunk, after: held) else {
            // Still a strict prefix of the preface: held + chunk < 24 bytes.
            if var existing = buffered {
                existing.writeBuffer(&chunk)
                buffered = existing
            } else {
                buffered = chunk
            }
            largestBuffer = max(largestBuffer, buffered?.readableBytes ?? 0)
            return
        }
        decided = true
        cancelTimer()
        var bytes: ByteBuffer
        if var existing = buffered {
            existing.writeBuffer(&chunk)
            bytes = existing
        } else {
            bytes = chunk
        }
        buffered = nil
        do {
            let sync = context.pipeline.syncOperations
            if isHTTP2 { try configureHTTP2(sync) } else { try configureHTTP1(sync) }
        } catch {
            context.close(promise: nil)
            return
        }
        context.fireChannelRead(wrapInboundOut(bytes))
        context.pipeline.syncOperations.removeHandler(context: context, promise: nil)
    }

    /// Compares `chunk` with the preface from offset `held` (the bytes before it already
    /// matched): true when the whole preface matched, false on divergence, nil when the
    /// bytes so far are a strict prefix.
    static func decide(_ chunk: ByteBuffer, after held: Int) -> Bool? {
        switch chunk.withUnsafeReadableBytes({ ProtocolPreface.classify($0, after: held) }) {
        case .http2: return true
        case .http1: return false
        case .needMoreBytes: return nil
        }
    }

    private func startTimer(context: ChannelHandlerContext) {
        guard let decisionTimeout, timer == nil, !decided else { return }
        timer = context.eventLoop.assumeIsolated().scheduleTask(in: decisionTimeout) { [weak self] in
            guard let self, !self.decided else { return }
            self.decided = true
            self.buffered = nil
            context.close(promise: nil)
        }
    }

    private func cancelTimer() {
        timer?.cancel()
        timer = nil
    }
}
