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
    /// Bounds on what a client may hold: time, connections, streams, memory.
    public var limits: ClientLimits

    public init(maxRequestBodyBytes: Int = 10 * 1024 * 1024, maxBufferedResponseBytes: Int = 8 * 1024 * 1024, upstreamTimeouts: UpstreamTimeouts = UpstreamTimeouts(), limits: ClientLimits = ClientLimits()) {
        self.maxRequestBodyBytes = maxRequestBodyBytes
        self.maxBufferedResponseBytes = maxBufferedResponseBytes
        self.upstreamTimeouts = upstreamTimeouts
        self.limits = limits
    }
}

/// What a slow or hostile client may hold, each with the default the README documents.
public struct ClientLimits: Sendable, Equatable {
    /// A request head (and a new connection's first bytes) must arrive within this.
    public var requestHeadTimeout: TimeAmount
    /// A request body may go this long without a byte.
    public var requestBodyTimeout: TimeAmount
    /// An idle keep-alive connection (HTTP/1.1 or HTTP/2) is closed after this.
    public var keepAliveTimeout: TimeAmount
    /// Client connections open at once.
    public var maxConnections: Int
    /// Concurrent streams per HTTP/2 connection.
    public var maxConcurrentStreams: Int
    /// Request bodies and held answers in memory across all calls.
    public var maxBufferedBytes: Int

    public init(
        requestHeadTimeout: TimeAmount = .seconds(10), requestBodyTimeout: TimeAmount = .seconds(30),
        keepAliveTimeout: TimeAmount = .seconds(120), maxConnections: Int = 4096,
        maxConcurrentStreams: Int = 100, maxBufferedBytes: Int = 256 * 1024 * 1024
    ) {
        self.requestHeadTimeout = requestHeadTimeout
        self.requestBodyTimeout = requestBodyTimeout
        self.keepAliveTimeout = keepAliveTimeout
        self.maxConnections = maxConnections
        self.maxConcurrentStreams = maxConcurrentStreams
        self.maxBufferedBytes = maxBufferedBytes
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
