import NIOCore
import NIOHTTP1

/// Reports request and response phases (head, body, end; the server asking for reads) to
/// an ``HTTPRequestTimeouts``. Passes every event through unchanged.
///
/// Place:
/// - HTTP/1.1: after `configureHTTPServerPipeline` (so after the decoder and NIO's
///   `HTTPServerPipelineHandler`), before the request handler, sharing its
///   ``HTTPRequestTimeouts`` with the ``RequestBytesWatcher`` in front of the decoder.
///   Created with `closesStream: false`.
/// - HTTP/2: on each stream channel, after `HTTP2FramePayloadToHTTP1ServerCodec`, with its
///   own ``HTTPRequestTimeouts`` (configuration `keepAlive: nil`) and
///   `closesStream: true`: on a body timeout it then answers `408` (if nothing was sent
///   yet) and closes the stream. The request-head limit does not apply to a stream (its
///   HEADERS frame opened it; the HTTP/2 connection's own limits cover header abuse).
final class RequestPhaseWatcher: ChannelDuplexHandler, RemovableChannelHandler {
    typealias InboundIn = HTTPServerRequestPart
    typealias InboundOut = HTTPServerRequestPart
    typealias OutboundIn = HTTPServerResponsePart
    typealias OutboundOut = HTTPServerResponsePart

    private let timeouts: HTTPRequestTimeouts
    private let closesStream: Bool

    /// - Parameters:
    ///   - timeouts: the connection's (or stream's) shared timeouts.
    ///   - closesStream: true on an HTTP/2 stream channel, where no ``RequestBytesWatcher``
    ///     exists: this handler then does the closing.
    init(timeouts: HTTPRequestTimeouts, closesStream: Bool) {
        self.timeouts = timeouts
        self.closesStream = closesStream
    }

    func handlerAdded(context: ChannelHandlerContext) {
        // On a stream the head comes with the stream itself (HEADERS opened it), so there
        // is no head phase to time: the clock starts with the head, one timer per stream.
        guard closesStream else { return }
        timeouts.closer = .responseParts(context)
    }

    func handlerRemoved(context: ChannelHandlerContext) {
        if closesStream { timeouts.stop() }
    }

    func channelInactive(context: ChannelHandlerContext) {
        timeouts.stop()
        context.fireChannelInactive()
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        // State first: the handler behind may answer synchronously.
        switch unwrapInboundIn(data) {
        case .head: timeouts.requestHeadReceived()
        case .body: timeouts.requestBodyReceived()
        case .end: timeouts.requestEnded()
        }
        context.fireChannelRead(data)
    }

    func channelReadComplete(context: ChannelHandlerContext) {
        timeouts.readCompleted()
        context.fireChannelReadComplete()
    }

    func read(context: ChannelHandlerContext) {
        timeouts.readRequested()
        context.read()
    }

    func write(context: ChannelHandlerContext, data: NIOAny, promise: EventLoopPromise<Void>?) {
        // State first: writing `.end` makes NIO's pipeline handler release the next
        // pipelined head, which comes back through `channelRead` before `write` returns.
        switch unwrapOutboundIn(data) {
        case .head(let head) where head.status.code >= 200 || head.status == .switchingProtocols:
            timeouts.responseHeadSent()
        case .head, .body:
            break
        case .end:
            timeouts.responseEnded()
        }
        context.write(data, promise: promise)
    }
}
