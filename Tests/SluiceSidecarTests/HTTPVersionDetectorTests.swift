import NIOCore
import NIOEmbedded
import Testing
@testable import SluiceSidecar

@Suite struct HTTPVersionDetectorTests {
    /// Records which pipeline the detector chose and what bytes reached it.
    final class Probe: ChannelInboundHandler, @unchecked Sendable {
        typealias InboundIn = ByteBuffer
        var received = ByteBuffer()
        func channelRead(context: ChannelHandlerContext, data: NIOAny) {
            var chunk = unwrapInboundIn(data)
            received.writeBuffer(&chunk)
        }
    }

    func detect(_ chunks: [String]) throws -> (choice: String?, bytes: String) {
        let channel = EmbeddedChannel()
        let probe = Probe()
        var choice: String?
        let detector = HTTPVersionDetector(
            http1: { sync in choice = "h1"; try sync.addHandler(probe) },
            http2: { sync in choice = "h2"; try sync.addHandler(probe) }
        )
        try channel.pipeline.syncOperations.addHandler(detector)
        for chunk in chunks {
            try channel.writeInbound(ByteBuffer(string: chunk))
        }
        return (choice, String(buffer: probe.received))
    }

    @Test func http1IsDecidedAtTheFirstByte() throws {
        let result = try detect(["G", "ET / HTTP/1.1\r\n\r\n"])
        #expect(result.choice == "h1")
        #expect(result.bytes == "GET / HTTP/1.1\r\n\r\n")
    }

    @Test func prefaceSplitAcrossReadsIsHTTP2() throws {
        let preface = "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"
        let first = try detect([String(preface.prefix(10))])
        #expect(first.choice == nil)
        let result = try detect([String(preface.prefix(10)), String(preface.dropFirst(10)) + "\u{0}\u{0}"])
        #expect(result.choice == "h2")
        #expect(result.bytes == preface + "\u{0}\u{0}")
    }

    @Test func nearMissIsHTTP1() throws {
        let result = try detect(["PRI * HTTP/1.1\r\n"])
        #expect(result.choice == "h1")
    }
}
