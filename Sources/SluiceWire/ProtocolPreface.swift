/// Tells a cleartext HTTP/2 prior-knowledge connection from HTTP/1.1 by its first bytes.
///
/// An HTTP/2 client with prior knowledge opens with the 24-byte connection preface
/// (RFC 9113 §3.4); an HTTP/1.1 request line differs from it at the first byte that is not
/// part of a method named `PRI`. The decision needs only as many bytes as it takes for them
/// to diverge from the preface, or all 24 of them.
public enum ProtocolPreface {
    /// What a connection's first bytes say.
    public enum Decision: Sendable, Equatable {
        /// All 24 bytes of the HTTP/2 preface arrived (bytes after them belong to HTTP/2).
        case http2
        /// The bytes diverge from the preface: anything else is served as HTTP/1.
        case http1
        /// The bytes so far are a proper prefix of the preface (none at all included).
        case needMoreBytes
    }

    /// The HTTP/2 connection preface, `PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n`.
    public static let http2: StaticString = "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"

    /// The number of bytes in ``http2``.
    public static let length = 24

    /// Classifies the first bytes a client sent (all of them so far, from the first).
    public static func classify(_ bytes: UnsafeRawBufferPointer) -> Decision {
        classify(bytes, after: 0)
    }

    /// Classifies the next bytes of a connection whose first `matched` bytes already
    /// matched the preface (`matched` < 24): how a detector that keeps no copy of what it
    /// saw decides chunk by chunk.
    public static func classify(_ bytes: UnsafeRawBufferPointer, after matched: Int) -> Decision {
        http2.withUTF8Buffer { preface in
            let start = min(max(matched, 0), preface.count)
            let wanted = preface.count - start
            let count = min(bytes.count, wanted)
            var index = 0
            while index < count {
                if bytes[index] != preface[start + index] { return .http1 }
                index += 1
            }
            return bytes.count >= wanted ? .http2 : .needMoreBytes
        }
    }
}
