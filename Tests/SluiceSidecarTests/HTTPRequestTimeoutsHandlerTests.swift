import NIOConcurrencyHelpers
import NIOCore
import NIOEmbedded
import NIOHTTP1
import NIOHPACK
import NIOHTTP2
import Testing
@testable import SluiceSidecar

/// The timeout watchers in real pipelines on an `EmbeddedChannel`, with the embedded
/// loop's clock advanced by hand. Head 10 s, body 30 s, keep-alive 120 s.
@Suite struct HTTPRequestTimeoutsHandlerTests {
    static let limits = HTTP1TimeoutStateMachine.Configuration(
        requestHead: .seconds(10), requestBody: .seconds(30), keepAlive: .seconds(120)
    )

    /// Answers each request with `200` and an empty body when its end arrives, unless
    /// `holding` (then `answer()` sends the held ones).
    final class App: ChannelInboundHandler, @unchecked Sendable {
        typealias InboundIn = HTTPServerRequestPart
        typealias OutboundOut = HTTPServerResponsePart
        var holding = false
        var heads: [String] = []
        var held = 0
        var context: ChannelHandlerContext?

        func handlerAdded(context: ChannelHandlerContext) { self.context = context }

        func channelRead(context: ChannelHandlerContext, data: NIOAny) {
            switch unwrapInboundIn(data) {
            case .head(let head): heads.append(head.uri)
            case .body: break
            case .end:
                if holding { held += 1 } else { respond() }
            }
        }

        func answer() {
            while held > 0 {
                held -= 1
                respond()
            }
        }

        private func respond() {
            guard let context else { return }
            context.write(wrapOutboundOut(.head(HTTPResponseHead(version: .http1_1, status: .ok, headers: ["content-length": "0"]))), promise: nil)
            context.writeAndFlush(wrapOutboundOut(.end(nil)), promise: nil)
        }
    }

    /// Fails writes once the channel is closed, as a real socket channel does (an
    /// `EmbeddedChannel` records them): NIO's error handler answers the half-received
    /// request with a 400 while the closed connection goes inactive, which never reaches
    /// a real client.
    final class ClosedSocket: ChannelOutboundHandler, @unchecked Sendable {
        typealias OutboundIn = ByteBuffer
        func write(context: ChannelHandlerContext, data: NIOAny, promise: EventLoopPromise<Void>?) {
            guard context.channel.isActive else {
                promise?.fail(ChannelError.ioOnClosedChannel)
                return
            }
            context.write(data, promise: promise)
        }
    }

    struct HTTP1Connection {
        let channel: EmbeddedChannel
        let app: App
        let timeouts: HTTPRequestTimeouts
        var loop: EmbeddedEventLoop { channel.embeddedEventLoop }

        func send(_ text: String) throws {
            try channel.writeInbound(ByteBuffer(string: text))
            // What a socket channel with autoRead does after each read.
            channel.read()
        }

        /// Everything written to the socket so far, as text.
        func written() throws -> String {
            var text = ""
            while let buffer = try channel.readOutbound(as: ByteBuffer.self) {
                text += String(buffer: buffer)
            }
            return text
        }

        /// Moves the clock to `seconds` after the start.
        func at(_ seconds: Double) {
            loop.advanceTime(to: .uptimeNanoseconds(UInt64(seconds * 1_000_000_000)))
        }
    }

    /// The HTTP/1.1 pipeline the sidecar builds, with both watchers, connected at time 0.
    func http1(limits: HTTP1TimeoutStateMachine.Configuration = limits) throws -> HTTP1Connection {
        let channel = EmbeddedChannel()
        let timeouts = HTTPRequestTimeouts(configuration: limits, eventLoop: channel.embeddedEventLoop)
        let app = App()
        let sync = channel.pipeline.syncOperations
        try sync.addHandler(ClosedSocket())
        try sync.addHandler(RequestBytesWatcher(timeouts: timeouts))
        try sync.configureHTTPServerPipeline(withPipeliningAssistance: true, withErrorHandling: true)
        try sync.addHandler(RequestPhaseWatcher(timeouts: timeouts, closesStream: false))
        try sync.addHandler(app)
        try channel.connect(to: SocketAddress(ipAddress: "127.0.0.1", port: 9)).wait()
        return HTTP1Connection(channel: channel, app: app, timeouts: timeouts)
    }

    // MARK: head

    @Test func slowlorisIsClosedWith408AtTheHeadTimeout() throws {
        let connection = try http1()
        for (second, byte) in zip([1.0, 4, 7], ["G", "E", "T"]) {
            connection.at(second)
            try connection.send(byte)
        }
        connection.at(9.9)
        #expect(connection.channel.isActive)
        connection.at(10)
        #expect(!connection.channel.isActive)
        #expect(try connection.written() == HTTPRequestTimeouts.raw408)
        #expect(connection.app.heads.isEmpty)
    }

    @Test func silentConnectionIsClosedWithoutAnswerAtTheHeadTimeout() throws {
        let connection = try http1()
        connection.at(9.9)
        #expect(connection.channel.isActive)
        connection.at(10)
        #expect(!connection.channel.isActive)
        #expect(try connection.written() == "")
    }

    @Test func acceptTimeCountsForTheFirstHead() throws {
        let channel = EmbeddedChannel()
        channel.embeddedEventLoop.advanceTime(to: .uptimeNanoseconds(6_000_000_000))
        let timeouts = HTTPRequestTimeouts(configuration: Self.limits, eventLoop: channel.embeddedEventLoop)
        try channel.connect(to: SocketAddress(ipAddress: "127.0.0.1", port: 9)).wait()
        // Added after the protocol detector decided, 6 s after accept at 0.
        try channel.pipeline.syncOperations.addHandler(RequestBytesWatcher(timeouts: timeouts, acceptedAt: .uptimeNanoseconds(0)))
        #expect(timeouts.armedDeadline == .uptimeNanoseconds(10_000_000_000))
        channel.embeddedEventLoop.advanceTime(to: .uptimeNanoseconds(10_000_000_000))
        #expect(!channel.isActive)
    }

    // MARK: body

    @Test func stalledBodyIsClosedWith408ThirtySecondsAfterItsLastByte() throws {
        let connection = try http1()
        try connection.send("POST /v1/chat/completions HTTP/1.1\r\nhost: x\r\ncontent-length: 10\r\n\r\n12345")
        connection.at(29)
        try connection.send("6")
        connection.at(58.9)
        #expect(connection.channel.isActive)
        connection.at(59)
        #expect(!connection.channel.isActive)
        #expect(try connection.written() == HTTPRequestTimeouts.raw408)
    }

    @Test func bodyClockWaitsWhileTheServerHoldsReads() throws {
        let connection = try http1()
        try connection.channel.writeInbound(ByteBuffer(string: "POST / HTTP/1.1\r\nhost: x\r\ncontent-length: 10\r\n\r\n12345"))
        // No read() after the read completed: the server is applying backpressure.
        connection.at(100)
        #expect(connection.channel.isActive)
        connection.channel.read()
        connection.at(129.9)
        #expect(connection.channel.isActive)
        connection.at(130)
        #expect(!connection.channel.isActive)
    }

    @Test func bodyStallAfterAnEarlyAnswerClosesWithout408() throws {
        let connection = try http1()
        try connection.send("POST / HTTP/1.1\r\nhost: x\r\ncontent-length: 10\r\n\r\n123")
        let early = HTTPResponseHead(version: .http1_1, status: .payloadTooLarge, headers: ["content-length": "0"])
        try connection.channel.writeOutbound(HTTPServerResponsePart.head(early))
        try connection.channel.writeOutbound(HTTPServerResponsePart.end(nil))
        let answer = try connection.written()
        #expect(answer.hasPrefix("HTTP/1.1 413"))
        connection.at(30)
        #expect(!connection.channel.isActive)
        #expect(try connection.written() == "")
    }

    // MARK: keep-alive

    @Test func idleConnectionIsClosedSilentlyAtTheKeepAliveTimeout() throws {
        let connection = try http1()
        connection.at(1)
        try connection.send("GET /a HTTP/1.1\r\nhost: x\r\n\r\n")
        #expect(try connection.written().hasPrefix("HTTP/1.1 200 OK"))
        // Past the head (10) and body (30) limits, short of keep-alive (1 + 120).
        connection.at(120.9)
        #expect(connection.channel.isActive)
        connection.at(121)
        #expect(!connection.channel.isActive)
        #expect(try connection.written() == "")
    }

    @Test func aByteAfterKeepAliveGivesTheNextHeadTenSeconds() throws {
        let connection = try http1()
        try connection.send("GET /a HTTP/1.1\r\nhost: x\r\n\r\n")
        _ = try connection.written()
        connection.at(50)
        try connection.send("GET /b")
        connection.at(59.9)
        #expect(connection.channel.isActive)
        connection.at(60)
        #expect(!connection.channel.isActive)
        #expect(try connection.written() == HTTPRequestTimeouts.raw408)
    }

    @Test func keepAliveConnectionServesManyRequests() throws {
        let connection = try http1()
        for index in 0..<3 {
            connection.at(Double(index) * 100)
            try connection.send("GET /\(index) HTTP/1.1\r\nhost: x\r\n\r\n")
        }
        #expect(connection.app.heads == ["/0", "/1", "/2"])
        #expect(connection.channel.isActive)
    }

    // MARK: pipelining

    @Test func pipelinedRequestWaitsForTheServerWithoutTimingOut() throws {
        let connection = try http1()
        connection.app.holding = true
        try connection.send("GET /a HTTP/1.1\r\nhost: x\r\n\r\nGET /b HTTP/1.1\r\nhost: x\r\n\r\n")
        #expect(connection.app.heads == ["/a"])
        // The server's turn: longer than every client limit but keep-alive.
        connection.at(100)
        #expect(connection.channel.isActive)
        connection.app.holding = false
        connection.app.answer()
        #expect(connection.app.heads == ["/a", "/b"])
        let answers = try connection.written()
        #expect(answers.components(separatedBy: "HTTP/1.1 200 OK").count == 3)
        connection.at(219.9)
        #expect(connection.channel.isActive)
        connection.at(220)
        #expect(!connection.channel.isActive)
    }

    @Test func pipelinedPartialHeadGetsTheHeadTimeoutFromTheResponseEnd() throws {
        let connection = try http1()
        connection.app.holding = true
        try connection.send("GET /a HTTP/1.1\r\nhost: x\r\n\r\n")
        connection.at(1)
        try connection.send("GET /b HT")
        connection.at(50)
        connection.app.holding = false
        connection.app.answer()
        _ = try connection.written()
        connection.at(59.9)
        #expect(connection.channel.isActive)
        connection.at(60)
        #expect(!connection.channel.isActive)
        #expect(try connection.written() == HTTPRequestTimeouts.raw408)
    }

    @Test func onTimeoutReportsTheReasonOnce() throws {
        let connection = try http1()
        let reasons = NIOLockedValueBox<[HTTP1TimeoutStateMachine.CloseReason]>([])
        connection.timeouts.onTimeout = { reason in reasons.withLockedValue { $0.append(reason) } }
        try connection.send("POST / HTTP/1.1\r\nhost: x\r\ncontent-length: 10\r\n\r\n1")
        connection.at(500)
        #expect(reasons.withLockedValue { $0 } == [.requestBodyTimeout])
    }

    @Test func closingTheConnectionCancelsTheTimer() throws {
        let connection = try http1()
        #expect(connection.timeouts.armedDeadline != nil)
        try connection.channel.close().wait()
        #expect(connection.timeouts.armedDeadline == nil)
    }

    // MARK: HTTP/2 stream

    /// A stream channel as the sidecar builds it: the HTTP/2 → HTTP/1 codec, the phase
    /// watcher (closing the stream itself), the app.
    func stream() throws -> (channel: EmbeddedChannel, app: App) {
        let channel = EmbeddedChannel()
        let timeouts = HTTPRequestTimeouts(
            configuration: HTTP1TimeoutStateMachine.Configuration(requestHead: .seconds(10), requestBody: .seconds(30), keepAlive: nil),
            eventLoop: channel.embeddedEventLoop
        )
        let app = App()
        try channel.connect(to: SocketAddress(ipAddress: "127.0.0.1", port: 9)).wait()
        let sync = channel.pipeline.syncOperations
        try sync.addHandler(HTTP2FramePayloadToHTTP1ServerCodec())
        try sync.addHandler(RequestPhaseWatcher(timeouts: timeouts, closesStream: true))
        try sync.addHandler(app)
        return (channel, app)
    }

    func requestHeaders(contentLength: Int?) -> HTTP2Frame.FramePayload {
        var headers: HPACKHeaders = [":method": "POST", ":path": "/v1/chat/completions", ":scheme": "http", ":authority": "x"]
        if let contentLength { headers.add(name: "content-length", value: "\(contentLength)") }
        return .headers(.init(headers: headers, endStream: contentLength == nil))
    }

    @Test func streamBodyStallIsAnswered408AndTheStreamClosed() throws {
        let (channel, app) = try stream()
        try channel.writeInbound(requestHeaders(contentLength: 10))
        channel.read()
        channel.embeddedEventLoop.advanceTime(to: .uptimeNanoseconds(5_000_000_000))
        try channel.writeInbound(HTTP2Frame.FramePayload.data(.init(data: .byteBuffer(ByteBuffer(string: "12345")))))
        channel.read()
        #expect(app.heads == ["/v1/chat/completions"])
        channel.embeddedEventLoop.advanceTime(to: .uptimeNanoseconds(34_900_000_000))
        #expect(channel.isActive)
        channel.embeddedEventLoop.advanceTime(to: .uptimeNanoseconds(35_000_000_000))
        #expect(!channel.isActive)
        guard case .headers(let headers)? = try channel.readOutbound(as: HTTP2Frame.FramePayload.self) else {
            Issue.record("no response headers written")
            return
        }
        #expect(headers.headers.first(name: ":status") == "408")
    }

    @Test func streamHasNoKeepAliveTimer() throws {
        let (channel, app) = try stream()
        try channel.writeInbound(requestHeaders(contentLength: nil))
        #expect(app.heads.count == 1)
        channel.embeddedEventLoop.advanceTime(to: .uptimeNanoseconds(100_000_000_000_000))
        #expect(channel.isActive)
    }
}
