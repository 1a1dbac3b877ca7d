// ProtocolPreface: HTTP/2 prior knowledge told from HTTP/1 by a connection's first bytes.
import Testing
@testable import SluiceWire

@Suite("ProtocolPreface")
struct ProtocolPrefaceTests {
    /// The preface as RFC 9113 §3.4 gives it in hex.
    static let rfcPreface: [UInt8] = [
        0x50, 0x52, 0x49, 0x20, 0x2a, 0x20, 0x48, 0x54, 0x54, 0x50, 0x2f, 0x32,
        0x2e, 0x30, 0x0d, 0x0a, 0x0d, 0x0a, 0x53, 0x4d, 0x0d, 0x0a, 0x0d, 0x0a,
    ]

    static func classify(_ bytes: [UInt8]) -> ProtocolPreface.Decision {
        bytes.withUnsafeBytes { ProtocolPreface.classify($0) }
    }

    static func classify(_ text: String) -> ProtocolPreface.Decision {
        classify(Array(text.utf8))
    }

    @Test("the preface is the RFC's 24 bytes")
    func prefaceBytes() {
        #expect(ProtocolPreface.length == 24)
        ProtocolPreface.http2.withUTF8Buffer { #expect(Array($0) == Self.rfcPreface) }
    }

    @Test("every proper prefix of the preface, none included, needs more bytes")
    func prefixes() {
        for count in 0..<24 {
            #expect(Self.classify(Array(Self.rfcPreface[..<count])) == .needMoreBytes, "\(count) bytes")
        }
    }

    @Test("the whole preface is HTTP/2, with or without bytes after it")
    func whole() {
        #expect(Self.classify(Self.rfcPreface) == .http2)
        #expect(Self.classify(Self.rfcPreface + [0x00, 0x00, 0x12, 0x04]) == .http2)
    }

    @Test("a byte that differs anywhere makes it HTTP/1 as soon as that byte is there")
    func divergence() {
        for position in 0..<24 {
            var bytes = Self.rfcPreface
            bytes[position] ^= 0x20
            #expect(Self.classify(Array(bytes[..<position])) == .needMoreBytes, "at \(position)")
            #expect(Self.classify(Array(bytes[...position])) == .http1, "at \(position)")
            #expect(Self.classify(bytes) == .http1, "at \(position)")
        }
    }

    @Test("HTTP/1 request lines", arguments: [
        ("GET / HTTP/1.1\r\n", ProtocolPreface.Decision.http1),
        ("G", .http1),
        ("POST /v1/chat/completions HTTP/1.1\r\n", .http1),
        ("P", .needMoreBytes),
        ("PR", .needMoreBytes),
        ("PRI * HTTP/1.1\r\n", .http1),
        ("PRI * HTTP/2.0\r\n\r\n", .needMoreBytes),
        ("PRI * HTTP/2.0\n\nSM\n\n", .http1),
        ("pri * HTTP/2.0\r\n\r\nSM\r\n\r\n", .http1),
        ("\r\nPRI * HTTP/2.0\r\n\r\nSM\r\n\r\n", .http1),
    ])
    func requestLines(_ text: String, _ expected: ProtocolPreface.Decision) {
        #expect(Self.classify(text) == expected)
    }
}
