import NIOCore
import NIOEmbedded
import NIOHTTP1
import Testing

@testable import SluiceSidecar

/// A pooled connection in memory: what it reports about the request's write and the
/// response when it is lost, and its tracked read state.
@Suite struct UpstreamPoolConnectionTests {
    /// A connection over an embedded channel whose writes can be held back, as a full
    /// socket buffer would.
    struct Fixture {
        let channel = EmbeddedChannel()
        let gate = WriteGate()
        let connection: UpstreamConnection

        init() throws {
            let key = UpstreamPool.Key(endpoint: UpstreamEndpoint(useTLS: false, host: "127.0.0.1", port: 9), tls: nil)
            connection = UpstreamConnection(channel: channel, key: key)
            let sync = channel.pipeline.syncOperations
            try sync.addHandler(gate)
            try sync.addHTTPClientHandlers()
            let handler = UpstreamConnectionHandler()
            try sync.addHandler(handler)
            handler.bind(connection)
            channel.connect(to: try SocketAddress(ipAddress: "127.0.0.1", port: 9), promise: nil)
        }

        func respond(_ text: String) throws {
            try channel.writeInbound(ByteBuffer(string: text))
        }
    }

    static let request = UpstreamRequest(
        head: HTTPRequestHead(version: .http1_1, method: .POST, uri: "/v1/chat/completions", headers: ["content-length": "2"]),
        body: ByteBuffer(string: "{}")
    )

    @Test func theRequestIsWrittenWhenItsEndReachesTheSocket() throws {
        let fixture = try Fixture()
        let recorder = Recorder()
        fixture.connection.attach(recorder)
        fixture.gate.holding = true
        fixture.connection.write(Self.request)
        #expect(fixture.connection.requestWrite == .writing)
        #expect(recorder.writes == 0)
        fixture.gate.release()
        #expect(fixture.connection.requestWrite == .written)
        #expect(recorder.writes == 1)
        try fixture.respond(UpstreamPoolTests.okResponse)
        #expect(recorder.parts.count == 3) // head, body, end
        #expect(fixture.connection.responseStarted)
    }

    @Test func aCloseAfterTheWriteMayHaveBeenProcessed() throws {
        let fixture = try Fixture()
        let recorder = Recorder()
        fixture.connection.attach(recorder)
        fixture.connection.write(Self.request)
        fixture.channel.pipeline.fireChannelInactive()
        #expect(recorder.losses.count == 1)
        let loss = try #require(recorder.losses.first)
        #expect(loss.requestWrite == .written)
        #expect(!loss.responseStarted)
        #expect(!loss.wasReused)
        #expect(!loss.requestUnprocessed)
    }

    @Test func aCloseBeforeTheWriteFinishedOnAReusedConnectionCannotHaveBeenProcessed() throws {
        let fixture = try Fixture()
        let first = Recorder()
        fixture.connection.attach(first)
        fixture.connection.write(Self.request)
        try fixture.respond(UpstreamPoolTests.okResponse)
        fixture.connection.detach()
        // Reused: this time the request's end never leaves (the socket buffer is full)
        // before the peer's close is seen.
        let second = Recorder()
        fixture.connection.attach(second)
        fixture.gate.holding = true
        fixture.connection.write(Self.request)
        try fixture.channel.close().wait()
        let loss = try #require(second.losses.first)
        #expect(second.losses.count == 1)
        #expect(first.losses.isEmpty)
        #expect(loss.requestWrite == .writing)
        #expect(!loss.responseStarted)
        #expect(loss.wasReused)
        #expect(loss.requestUnprocessed)
    }

    @Test func aPartialHeadBeforeTheCloseCountsAsAResponseByte() throws {
        let fixture = try Fixture()
        let recorder = Recorder()
        fixture.connection.attach(recorder)
        fixture.connection.write(Self.request)
        try fixture.respond("HTTP/1.1 2")
        #expect(recorder.parts.isEmpty)
        try fixture.channel.close().wait()
        let loss = try #require(recorder.losses.first)
        #expect(loss.responseStarted)
        #expect(!loss.requestUnprocessed)
    }

    @Test func theConnectionReportsItsLossOnceAndThenToThePool() throws {
        let fixture = try Fixture()
        let recorder = Recorder()
        var closes = 0
        fixture.connection.onClose = { _ in closes += 1 }
        fixture.connection.attach(recorder)
        fixture.connection.write(Self.request)
        fixture.channel.pipeline.fireErrorCaught(Unexpected("connection reset")) // the handler closes the channel
        fixture.connection.didBecomeInactive() // a late second report goes nowhere
        #expect(recorder.losses.count == 1)
        #expect(recorder.losses.first?.detail == "connection reset")
        #expect(closes == 1)
        #expect(!fixture.connection.isActive)
    }

    /// (EmbeddedChannel reports `autoRead` as always on; the loopback test in
    /// ``UpstreamPoolTests`` covers the option's effect.)
    @Test func readStateIsTrackedSoRestoringItIsCheap() throws {
        let fixture = try Fixture()
        #expect(fixture.connection.isReading)
        fixture.connection.setAutoRead(false)
        #expect(!fixture.connection.isReading)
        fixture.connection.setAutoRead(true)
        #expect(fixture.connection.isReading)
    }
}

/// Holds outbound writes while `holding`, like a socket whose send buffer is full; fails
/// them when the channel closes.
final class WriteGate: ChannelOutboundHandler {
    typealias OutboundIn = ByteBuffer

    var holding = false
    private var held: [(NIOAny, EventLoopPromise<Void>?)] = []
    private var context: ChannelHandlerContext?

    func handlerAdded(context: ChannelHandlerContext) { self.context = context }

    func write(context: ChannelHandlerContext, data: NIOAny, promise: EventLoopPromise<Void>?) {
        if holding {
            held.append((data, promise))
        } else {
            context.write(data, promise: promise)
        }
    }

    func flush(context: ChannelHandlerContext) {
        if !holding { context.flush() }
    }

    /// Lets the held writes through and flushes them.
    func release() {
        holding = false
        guard let context else { return }
        let writes = held
        held.removeAll()
        for (data, promise) in writes { context.write(data, promise: promise) }
        context.flush()
    }

    func close(context: ChannelHandlerContext, mode: CloseMode, promise: EventLoopPromise<Void>?) {
        let writes = held
        held.removeAll()
        for (_, promise) in writes { promise?.fail(ChannelError.ioOnClosedChannel) }
        context.close(mode: mode, promise: promise)
    }
}
