import NIOCore
import NIOEmbedded
import Testing
@testable import SluiceSidecar

/// The protocol detector's bounds: a decision deadline and a buffer below 24 bytes.
@Suite struct HTTPVersionDetectorLimitsTests {
    final class Sink: ChannelInboundHandler, @unchecked Sendable {
        typealias InboundIn = ByteBuffer
        var received = ByteBuffer()
        func channelRead(context: ChannelHandlerContext, data: NIOAny) {
            var chunk = unwrapInboundIn(data)
            received.writeBuffer(&chunk)
        }
    }

    final class Choice: @unchecked Sendable {
        var value: String?
    }

    /// A connected channel with a detector (decision timeout 10 s) added at time 0.
    func connected() throws -> (EmbeddedChannel, HTTPVersionDetector, Choice, Sink) {
        let channel = EmbeddedChannel()
        try channel.connect(to: SocketAddress(ipAddress: "127.0.0.1", port: 9)).wait()
        let choice = Choice()
        let sink = Sink()
        let detector = HTTPVersionDetector(
            decisionTimeout: .seconds(10),
            http1: { sync in choice.value = "h1"; try sync.addHandler(sink) },
            http2: { sync in choice.value = "h2"; try sync.addHandler(sink) }
        )
        try channel.pipeline.syncOperations.addHandler(detector)
        return (channel, detector, choice, sink)
    }

    @Test func silentConnectionIsClosedAtTheDecisionTimeout() throws {
        let (channel, _, choice, _) = try connected()
        channel.embeddedEventLoop.advanceTime(by: .milliseconds(9_999))
        #expect(channel.isActive)
        channel.embeddedEventLoop.advanceTime(by: .milliseconds(1))
        #expect(!channel.isActive)
        #expect(choice.value == nil)
    }

    @Test func prefaceTrickledPastTheTimeoutIsClosed() throws {
        let (channel, detector, choice, _) = try connected()
        let preface = HTTPVersionDetector.preface
        for (index, byte) in preface.prefix(23).enumerated() {
            channel.embeddedEventLoop.advanceTime(to: .uptimeNanoseconds(UInt64(index) * 400_000_000))
            try channel.writeInbound(ByteBuffer(bytes: [byte]))
        }
        // 23 bytes by 8.8 s: still undecided, all held.
        #expect(channel.isActive)
        #expect(detector.largestBuffer == 23)
        channel.embeddedEventLoop.advanceTime(to: .uptimeNanoseconds(10_000_000_000))
        #expect(!channel.isActive)
        #expect(choice.value == nil)
    }

    @Test func decisionInTimeCancelsTheDeadline() throws {
        let (channel, _, choice, sink) = try connected()
        channel.embeddedEventLoop.advanceTime(by: .seconds(9))
        try channel.writeInbound(ByteBuffer(string: "GET / HTTP/1.1\r\n"))
        #expect(choice.value == "h1")
        channel.embeddedEventLoop.advanceTime(by: .seconds(60))
        #expect(channel.isActive)
        #expect(String(buffer: sink.received) == "GET / HTTP/1.1\r\n")
    }

    @Test func heldBytesStayBelowThePrefaceLengthWhateverTheChunking() throws {
        let preface = HTTPVersionDetector.preface
        for split in 1..<preface.count {
            let (channel, detector, choice, sink) = try connected()
            try channel.writeInbound(ByteBuffer(bytes: preface.prefix(split)))
            #expect(choice.value == nil)
            // The rest of the preface plus a large first frame in one read.
            var rest = ByteBuffer(bytes: preface.dropFirst(split))
            rest.writeRepeatingByte(0, count: 64 * 1024)
            try channel.writeInbound(rest)
            #expect(choice.value == "h2")
            #expect(detector.largestBuffer == split)
            #expect(sink.received.readableBytes == preface.count + 64 * 1024)
        }
    }

    @Test func bigFirstReadIsDecidedWithoutHolding() throws {
        let (channel, detector, choice, sink) = try connected()
        var request = ByteBuffer(string: "POST / HTTP/1.1\r\ncontent-length: 100000\r\n\r\n")
        request.writeRepeatingByte(UInt8(ascii: "a"), count: 100_000)
        let size = request.readableBytes
        try channel.writeInbound(request)
        #expect(choice.value == "h1")
        #expect(detector.largestBuffer == 0)
        #expect(sink.received.readableBytes == size)
    }

    @Test func withoutTimeoutNothingIsScheduled() throws {
        let channel = EmbeddedChannel()
        try channel.connect(to: SocketAddress(ipAddress: "127.0.0.1", port: 9)).wait()
        try channel.pipeline.syncOperations.addHandler(HTTPVersionDetector(http1: { _ in }, http2: { _ in }))
        channel.embeddedEventLoop.advanceTime(by: .hours(1))
        #expect(channel.isActive)
    }
}
