import NIOCore

/// Settings of the egress listener that shape every call.
public struct EgressSettings: Sendable {
    /// Largest request body accepted (413 beyond it).
    public var maxRequestBodyBytes: Int
    /// Largest JSON response held to put its cost in a header; larger ones are relayed as
    /// they arrive and their cost goes to the access log only.
    public var maxBufferedResponseBytes: Int
    /// How long the upstream may take to answer and to keep an answer flowing.
    public var upstreamTimeouts: UpstreamTimeouts

    public init(maxRequestBodyBytes: Int = 10 * 1024 * 1024, maxBufferedResponseBytes: Int = 8 * 1024 * 1024, upstreamTimeouts: UpstreamTimeouts = UpstreamTimeouts()) {
        self.maxRequestBodyBytes = maxRequestBodyBytes
        self.maxBufferedResponseBytes = maxBufferedResponseBytes
        self.upstreamTimeouts = upstreamTimeouts
    }
}

/// Rules for client-supplied request ids.
enum RequestID {
    /// Accepts ids of 1 to 128 visible ASCII characters (no quotes or backslashes, which
    /// would need escaping in logs and headers).
    static func isAcceptable(_ id: String) -> Bool {
        let utf8 = id.utf8
        return !utf8.isEmpty && utf8.count <= 128 && utf8.allSatisfy { $0 > 0x20 && $0 < 0x7F && $0 != UInt8(ascii: "\"") && $0 != UInt8(ascii: "\\") }
    }
}
