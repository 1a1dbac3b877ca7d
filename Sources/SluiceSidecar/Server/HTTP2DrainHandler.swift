import NIOCore
import NIOHTTP2

/// Drains one HTTP/2 connection without losing a stream: a thin shell over
/// ``HTTP2DrainStateMachine``, placed after the `NIOHTTP2Handler`.
///
/// It takes the server's `ChannelShouldQuiesceEvent` away from
/// `NIOHTTP2ServerConnectionManagementHandler`, which would answer it with GOAWAY + PING at
/// once: Python's h2 takes any GOAWAY as the end of the connection and treats every later
/// frame (the PING, the rest of the streams in flight) as a protocol error, so httpx loses
/// every stream it was still reading. Here the streams in flight run to their end; a PING
/// goes out behind their last frames, and the GOAWAY once the client acks it (or after
/// `ackTimeout`); the connection closes once the GOAWAY is written. Streams opened in the
/// meantime are reset with REFUSED_STREAM (not processed, safe to retry elsewhere) by
/// ``RefusedStreamHandler``, installed by ``streamInitializer(_:)``. The sidecar's drain
/// deadline still closes whatever is left when the grace period ends.
final class HTTP2DrainHandler: ChannelInboundHandler {
    typealias InboundIn = HTTP2Frame
    typealias InboundOut = HTTP2Frame
    typealias OutboundOut = HTTP2Frame

    /// The payload of the PING sent behind the last streams ("sluice-d").
    static let pingData = HTTP2PingData(withInteger: 0x736c_7569_6365_2d64)

    private let eventLoop: any EventLoop
    private let ackTimeout: TimeAmount
    private var state = HTTP2DrainStateMachine()
    private var context: ChannelHandlerContext?
    private var ackTimer: Scheduled<Void>?

    /// - Parameters:
    ///   - eventLoop: the connection's event loop.
    ///   - ackTimeout: how long the GOAWAY waits for the ack of the PING sent behind the
    ///     last streams.
    init(eventLoop: any EventLoop, ackTimeout: TimeAmount = .seconds(1)) {
        self.eventLoop = eventLoop
        self.ackTimeout = ackTimeout
    }

    func handlerAdded(context: ChannelHandlerContext) {
        self.context = context
    }

    func handlerRemoved(context: ChannelHandlerContext) {
        self.context = nil
        ackTimer?.cancel()
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        if case .ping(let payload, ack: true) = unwrapInboundIn(data).payload, payload == Self.pingData {
            perform(state.pingAcked())
        }
        context.fireChannelRead(data)
    }

    func channelInactive(context: ChannelHandlerContext) {
        ackTimer?.cancel()
        context.fireChannelInactive()
    }

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        if event is ChannelShouldQuiesceEvent {
            // Not passed on: the connection manager would send GOAWAY + PING now.
            perform(state.drain())
            return
        }
        context.fireUserInboundEventTriggered(event)
    }

    /// The stream delegate to give the HTTP/2 handler; it tells `next` too.
    func streamDelegate(forwardingTo next: (any NIOHTTP2StreamDelegate)?) -> any NIOHTTP2StreamDelegate {
        StreamDelegate(handler: NIOLoopBound(self, eventLoop: eventLoop), next: next)
    }

    /// Wraps the stream initializer: a stream opened once the drain has begun gets a
    /// ``RefusedStreamHandler`` instead, and never reaches `serve`.
    func streamInitializer(_ serve: @escaping NIOChannelInitializer) -> NIOChannelInitializer {
        let bound = NIOLoopBound(self, eventLoop: eventLoop)
        return { stream in
            guard !bound.value.state.admitsNewStreams else { return serve(stream) }
            return stream.eventLoop.makeCompletedFuture {
                try stream.pipeline.syncOperations.addHandler(RefusedStreamHandler())
            }
        }
    }

    private func perform(_ action: HTTP2DrainStateMachine.Action) {
        guard let context else { return }
        switch action {
        case .none:
            break
        case .sendPing:
            // Called while the last stream's final frame is being written: the PING follows
            // it in the same flush.
            context.writeAndFlush(wrapOutboundOut(HTTP2Frame(streamID: .rootStream, payload: .ping(Self.pingData, ack: false))), promise: nil)
            let bound = NIOLoopBound(self, eventLoop: eventLoop)
            ackTimer = eventLoop.scheduleTask(in: ackTimeout) {
                let handler = bound.value
                handler.perform(handler.state.ackTimedOut())
            }
        case .sendGoAwayAndClose(let lastStreamID):
            ackTimer?.cancel()
            let goAway = HTTP2Frame(streamID: .rootStream, payload: .goAway(lastStreamID: lastStreamID, errorCode: .noError, opaqueData: nil))
            // The close waits until the GOAWAY, and so everything before it, is on the wire.
            let written = context.eventLoop.makePromise(of: Void.self)
            let bound = NIOLoopBound(context, eventLoop: context.eventLoop)
            written.futureResult.whenComplete { _ in bound.value.close(promise: nil) }
            context.writeAndFlush(wrapOutboundOut(goAway), promise: written)
        }
    }

    /// Tells the drain handler (and the next delegate) which streams open and close.
    private struct StreamDelegate: NIOHTTP2StreamDelegate {
        let handler: NIOLoopBound<HTTP2DrainHandler>
        let next: (any NIOHTTP2StreamDelegate)?

        func streamCreated(_ id: HTTP2StreamID, channel: any Channel) {
            handler.value.state.streamOpened(id)
            next?.streamCreated(id, channel: channel)
        }

        func streamClosed(_ id: HTTP2StreamID, channel: any Channel) {
            next?.streamClosed(id, channel: channel)
            let handler = handler.value
            handler.perform(handler.state.streamClosed(id))
        }
    }
}
