import NIOCore
import NIOEmbedded
import NIOHPACK
import NIOHTTP2
import Testing
@testable import SluiceSidecar

/// The drain handler in the egress server's HTTP/2 pipeline (HTTP/2 handler, drain handler,
/// NIO's connection manager) on an `EmbeddedChannel`, talking to a real NIO HTTP/2 client
/// on another (which acks PINGs by itself): the frames the client receives during a drain,
/// in order.
@Suite struct HTTP2DrainHandlerTests {
    /// A stream's server side that answers only when the test says so.
    final class HeldResponder: ChannelInboundHandler, @unchecked Sendable {
        typealias InboundIn = HTTP2Frame.FramePayload
        typealias OutboundOut = HTTP2Frame.FramePayload
        var context: ChannelHandlerContext?

        func handlerAdded(context: ChannelHandlerContext) { self.context = context }

        func answer(_ text: String) {
            guard let context else { return }
            context.write(wrapOutboundOut(.headers(.init(headers: [":status": "200"]))), promise: nil)
            context.writeAndFlush(wrapOutboundOut(.data(.init(data: .byteBuffer(ByteBuffer(string: text)), endStream: true))), promise: nil)
        }
    }

    /// The streams the server handed to its (non-refusing) initializer, in order.
    final class Served: @unchecked Sendable {
        var responders: [HeldResponder] = []
    }

    struct Pair {
        let client: EmbeddedChannel
        let server: EmbeddedChannel
        let served: Served

        /// Moves bytes both ways until neither side has anything left to send.
        func interact() throws {
            var moved = true
            while moved {
                moved = false
                while let bytes = try client.readOutbound(as: ByteBuffer.self) {
                    try server.writeInbound(bytes)
                    moved = true
                }
                while let bytes = try server.readOutbound(as: ByteBuffer.self) {
                    try client.writeInbound(bytes)
                    moved = true
                }
            }
        }

        /// Moves the server's bytes to the client only (its acks stay unsent).
        func deliverToClient() throws {
            while let bytes = try server.readOutbound(as: ByteBuffer.self) {
                try client.writeInbound(bytes)
            }
        }

        /// The frames the client has received since last asked, SETTINGS and their acks aside.
        func clientFrames() throws -> [HTTP2Frame] {
            var frames: [HTTP2Frame] = []
            while let frame = try client.readInbound(as: HTTP2Frame.self) {
                if case .settings = frame.payload { continue }
                frames.append(frame)
            }
            return frames
        }

        func openStream(_ id: HTTP2StreamID) throws {
            let headers: HPACKHeaders = [":method": "POST", ":path": "/v1/chat/completions", ":scheme": "http", ":authority": "sidecar"]
            try client.writeOutbound(HTTP2Frame(streamID: id, payload: .headers(.init(headers: headers, endStream: true))))
            try interact()
        }

        func drain() throws {
            server.pipeline.fireUserInboundEventTriggered(ChannelShouldQuiesceEvent())
            try interact()
        }
    }

    func connect() throws -> Pair {
        let served = Served()
        let server = EmbeddedChannel()
        let manager = NIOHTTP2ServerConnectionManagementHandler(
            eventLoop: server.eventLoop,
            configuration: .init(maxIdleTime: .seconds(60), maxAge: nil, maxGraceTime: .seconds(30), keepalive: nil)
        )
        let drain = HTTP2DrainHandler(eventLoop: server.eventLoop)
        _ = try server.pipeline.syncOperations.configureHTTP2Pipeline(
            mode: .server,
            connectionConfiguration: .init(),
            streamConfiguration: .init(),
            streamDelegate: drain.streamDelegate(forwardingTo: manager.http2StreamDelegate),
            inboundStreamInitializer: drain.streamInitializer { stream in
                let responder = HeldResponder()
                served.responders.append(responder)
                return stream.eventLoop.makeCompletedFuture { try stream.pipeline.syncOperations.addHandler(responder) }
            }
        )
        try server.pipeline.syncOperations.addHandler(drain)
        try server.pipeline.syncOperations.addHandler(manager)
        let client = EmbeddedChannel(handler: NIOHTTP2Handler(mode: .client))
        let address = try SocketAddress(ipAddress: "127.0.0.1", port: 1)
        try server.connect(to: address).wait()
        try client.connect(to: address).wait()
        let pair = Pair(client: client, server: server, served: served)
        try pair.interact()
        _ = try pair.clientFrames()
        return pair
    }

    @Test func theStreamInFlightEndsBeforeTheGoAwayAndANewStreamIsRefused() throws {
        let pair = try connect()
        try pair.openStream(1)
        #expect(pair.served.responders.count == 1)

        try pair.drain()
        // Nothing that would end the connection for the client while stream 1 is open.
        #expect(try pair.clientFrames().isEmpty)
        #expect(pair.server.isActive)

        try pair.openStream(3)
        let refusal = try pair.clientFrames()
        #expect(refusal.count == 1)
        #expect(refusal.first?.streamID == 3)
        guard case .rstStream(let code)? = refusal.first?.payload else {
            Issue.record("expected RST_STREAM on stream 3, got \(refusal)")
            return
        }
        #expect(code == .refusedStream)
        #expect(pair.served.responders.count == 1, "a refused stream must never reach the server's handlers")

        pair.served.responders[0].answer("the whole answer")
        try pair.interact()
        let frames = try pair.clientFrames()
        #expect(frames.map(\.streamID) == [1, 1, .rootStream, .rootStream])
        guard frames.count == 4, case .data(let data) = frames[1].payload, case .byteBuffer(let body) = data.data,
              case .ping(HTTP2DrainHandler.pingData, ack: false) = frames[2].payload,
              case .goAway(let lastStreamID, let errorCode, _) = frames[3].payload
        else {
            Issue.record("expected HEADERS, DATA, PING and GOAWAY, got \(frames)")
            return
        }
        #expect(data.endStream)
        #expect(String(buffer: body) == "the whole answer")
        #expect(lastStreamID == 1)
        #expect(errorCode == .noError)
        #expect(!pair.server.isActive, "the connection closes once its GOAWAY is written")
    }

    @Test func twoStreamsInFlightBothEndBeforeTheGoAway() throws {
        let pair = try connect()
        try pair.openStream(1)
        try pair.openStream(3)
        try pair.drain()
        pair.served.responders[1].answer("three")
        try pair.interact()
        let first = try pair.clientFrames()
        #expect(first.map(\.streamID) == [3, 3], "no GOAWAY while stream 1 is still open")
        #expect(pair.server.isActive)

        pair.served.responders[0].answer("one")
        try pair.interact()
        let second = try pair.clientFrames()
        #expect(second.map(\.streamID) == [1, 1, .rootStream, .rootStream])
        guard case .goAway(let lastStreamID, .noError, _)? = second.last?.payload else {
            Issue.record("expected GOAWAY(NO_ERROR) last, got \(second)")
            return
        }
        #expect(lastStreamID == 3)
        #expect(!pair.server.isActive)
    }

    @Test func withoutAnAckTheGoAwayFollowsWhenTheTimerFires() throws {
        let pair = try connect()
        try pair.openStream(1)
        try pair.drain()
        pair.served.responders[0].answer("one")
        try pair.deliverToClient()
        let frames = try pair.clientFrames()
        #expect(frames.map(\.streamID) == [1, 1, .rootStream])
        guard case .ping(HTTP2DrainHandler.pingData, ack: false)? = frames.last?.payload else {
            Issue.record("expected the PING behind the last stream, got \(frames)")
            return
        }
        pair.server.embeddedEventLoop.advanceTime(by: .milliseconds(999))
        try pair.deliverToClient()
        #expect(try pair.clientFrames().isEmpty)
        #expect(pair.server.isActive)

        pair.server.embeddedEventLoop.advanceTime(by: .milliseconds(1))
        try pair.deliverToClient()
        let last = try pair.clientFrames()
        guard last.count == 1, case .goAway(1, .noError, _) = last[0].payload else {
            Issue.record("expected GOAWAY(1, NO_ERROR), got \(last)")
            return
        }
        #expect(!pair.server.isActive)
    }

    @Test func anIdleConnectionGetsOneGoAwayAndNoPingThenCloses() throws {
        let pair = try connect()
        try pair.drain()
        let frames = try pair.clientFrames()
        #expect(frames.count == 1)
        guard case .goAway(let lastStreamID, .noError, _)? = frames.first?.payload else {
            Issue.record("expected one GOAWAY(NO_ERROR), got \(frames)")
            return
        }
        #expect(lastStreamID == .rootStream)
        #expect(!pair.server.isActive)
    }
}
