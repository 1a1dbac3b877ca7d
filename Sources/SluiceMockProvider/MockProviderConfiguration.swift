/// Settings of a ``MockProvider``: where it listens, how fast it answers and how often it misbehaves.
///
/// Every timing and failure knob can also be overridden per request with an `x-mock-*` header
/// (see ``MockProvider``).
public struct MockProviderConfiguration: Sendable, Equatable {
    /// PEM files for serving HTTPS instead of plain HTTP.
    public struct TLS: Sendable, Equatable {
        /// Path of a PEM file holding the server certificate, followed by any intermediates.
        public var certificateChainFile: String
        /// Path of a PEM file holding the server's private key.
        public var privateKeyFile: String

        public init(certificateChainFile: String, privateKeyFile: String) {
            self.certificateChainFile = certificateChainFile
            self.privateKeyFile = privateKeyFile
        }
    }

    /// Address to bind.
    public var host: String = "127.0.0.1"
    /// Port to bind; 0 picks a free one (read it back from ``MockProvider/port``).
    public var port: Int = 0
    /// Serve HTTPS with these files when set.
    public var tls: TLS?
    /// Delay before the response head (non-streaming: before the whole response).
    public var latencyMilliseconds: Int = 0
    /// Streaming: delay between the head (sent at once) and the first content event.
    public var timeToFirstTokenMilliseconds: Int = 0
    /// Streaming pace in content events per second; 0 = as fast as possible.
    public var tokensPerSecond: Double = 0
    /// Fraction of requests answered 500 with a provider-shaped error.
    public var errorRate: Double = 0
    /// Fraction of requests answered 429 with `Retry-After`.
    public var rateLimitRate: Double = 0
    /// Value of the `Retry-After` header on 429 answers.
    public var retryAfterSeconds: Int = 1
    /// Value of the `retry-after-ms` header on 429 answers; nil = no such header.
    public var retryAfterMilliseconds: Int?
    /// Completion length when the request names no maximum.
    public var outputTokens: Int = 16
    /// Upper bound applied to a request's `max_tokens` / `max_output_tokens` / `max_completion_tokens`.
    public var maxOutputTokens: Int = 4096
    /// Seed of the deterministic content and of the error/rate-limit draws.
    public var seed: UInt64 = 1

    public init(
        host: String = "127.0.0.1",
        port: Int = 0,
        tls: TLS? = nil,
        latencyMilliseconds: Int = 0,
        timeToFirstTokenMilliseconds: Int = 0,
        tokensPerSecond: Double = 0,
        errorRate: Double = 0,
        rateLimitRate: Double = 0,
        retryAfterSeconds: Int = 1,
        retryAfterMilliseconds: Int? = nil,
        outputTokens: Int = 16,
        maxOutputTokens: Int = 4096,
        seed: UInt64 = 1
    ) {
        self.host = host
        self.port = port
        self.tls = tls
        self.latencyMilliseconds = latencyMilliseconds
        self.timeToFirstTokenMilliseconds = timeToFirstTokenMilliseconds
        self.tokensPerSecond = tokensPerSecond
        self.errorRate = errorRate
        self.rateLimitRate = rateLimitRate
        self.retryAfterSeconds = retryAfterSeconds
        self.retryAfterMilliseconds = retryAfterMilliseconds
        self.outputTokens = outputTokens
        self.maxOutputTokens = maxOutputTokens
        self.seed = seed
    }
}
