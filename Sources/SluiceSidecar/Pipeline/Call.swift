import NIOCore
import NIOHTTP1
import SluiceWire

/// Who a call is for, from the `x-sluice-*` headers or the pod's defaults.
public struct Attribution: Sendable, Equatable {
    public var tenant: String
    public var feature: String
    public var user: String?
    public var promptVersion: String?
    public var priority: Priority

    /// Scheduling class of a call: interactive goes first, batch may wait or be shed.
    public enum Priority: String, Sendable, Equatable {
        case interactive
        case batch
    }

    public init(tenant: String = "default", feature: String = "default", user: String? = nil, promptVersion: String? = nil, priority: Priority = .interactive) {
        self.tenant = tenant
        self.feature = feature
        self.user = user
        self.promptVersion = promptVersion
        self.priority = priority
    }
}

/// How a finished call ended, for logs and metrics.
public enum CallOutcome: String, Sendable, Equatable {
    /// Answered in full (any status).
    case completed
    /// Answered by Sluice itself (errors, `/v1/models`, later cache hits).
    case local
    /// The client went away before the answer was complete.
    case clientClosed = "client_closed"
    /// The upstream broke off a response already under way.
    case upstreamBroken = "upstream_broken"
}

/// How the client reached the sidecar.
public enum Transport: String, Sendable, Equatable {
    /// HTTP/1.1 on its own connection.
    case h1
    /// One stream of a cleartext HTTP/2 connection.
    case h2
}

/// Why an upstream attempt failed.
public enum UpstreamFailureKind: String, Sendable, Equatable {
    /// No connection could be opened (refused, unreachable, TLS handshake, pool wait).
    case connect
    /// No response head in time, or a body that stalled.
    case timeout
    /// The provider closed the connection before the answer began.
    case closed
    /// The provider sent something that is not HTTP/1.1.
    case protocolError = "protocol"
    /// The answer had begun and was cut off.
    case brokenStream = "broken_stream"
}

/// One try at getting the call's answer from a provider. A call records every attempt in
/// order (``Call/attempts``); resilience stages add attempts, the access log and metrics
/// read them.
public struct Attempt: Sendable {
    /// The model (and through it the provider) this attempt went to.
    public var target: ResolvedModel
    /// Monotonic time the attempt started, nanoseconds.
    public var startNanos: UInt64
    /// The provider's status, once its head arrived.
    public var status: Int?
    /// Why the attempt failed, if it did.
    public var failure: UpstreamFailureKind?
    /// Whether the proxy asked for stream usage the client did not ask for (to hide it again).
    public var hideInjectedUsage: Bool
    /// Whether the request and answer were translated between API families.
    public var translated: Bool
    /// When the provider's response head arrived (monotonic nanoseconds).
    public var headNanos: UInt64?
    /// When the attempt was over for the call: answered, failed, retried or abandoned.
    public var endNanos: UInt64?
    /// How the attempt ended, as logged and counted (`ok`, `error_status`, a failure kind…).
    public var outcome: AttemptOutcome?
    /// Usage an abandoned attempt reported before it was dropped (a stream's preamble
    /// carries its input tokens): the provider bills it, so the call counts it too.
    public var usage: TokenUsage?

    public init(target: ResolvedModel, startNanos: UInt64, hideInjectedUsage: Bool = false, translated: Bool = false) {
        self.target = target
        self.startNanos = startNanos
        self.hideInjectedUsage = hideInjectedUsage
        self.translated = translated
    }

    /// Milliseconds from the attempt's start to its end (or to `now` if still running).
    public func milliseconds(now: UInt64) -> UInt64 {
        ((endNanos ?? now) &- startNanos) / 1_000_000
    }
}

/// How one upstream attempt ended, as the access log and `sluice_upstream_attempts_total`
/// show it.
public enum AttemptOutcome: String, Sendable, Equatable {
    /// Answered below 400; the answer went to the client.
    case ok
    /// Answered with a 4xx the client caused; relayed.
    case clientError = "client_error"
    /// Answered with a retryable status (408, 409, 429, 5xx, 529).
    case errorStatus = "error_status"
    case connect
    case timeout
    case closed
    case protocolError = "protocol"
    case brokenStream = "broken_stream"
    /// Abandoned: the client left, or the call's deadline ended it.
    case cancelled

    init(_ failure: UpstreamFailureKind) {
        switch failure {
        case .connect: self = .connect
        case .timeout: self = .timeout
        case .closed: self = .closed
        case .protocolError: self = .protocolError
        case .brokenStream: self = .brokenStream
        }
    }
}

/// Everything known about one request on its way through the pipeline.
///
/// A `Call` lives on its connection's event loop and is touched only there, so stages read
/// and write its fields without locks. Fields are filled in stage order: the parse stage
/// sets `endpoint` and `request`, identify sets `attribution`, route sets `route` and
/// `target`, each upstream attempt appends to `attempts`, the response side sets status,
/// usage and timings, account sets `cost`.
public final class Call {
    // Request, as received.
    public let id: String
    public let head: HTTPRequestHead
    public let body: ByteBuffer
    public let transport: Transport
    /// Monotonic start time, nanoseconds.
    public let startNanos: UInt64
    public let snapshot: RuntimeSnapshot
    public let credentials: CredentialSet
    /// Random bits drawn for this call (weighted target choice), from the loop's generator.
    public let randomBits: UInt64
    /// Random bits for new trace and span ids (128-bit trace id, 64-bit span id).
    let traceBits: (high: UInt64, low: UInt64, span: UInt64)
    /// The loop's wall clock, for timestamps.
    let wallClock: WallClockCache
    /// The loop's scratch space for stages (caches that would otherwise need locks).
    public let loopLocal: LoopLocalStorage

    // Filled by stages.
    public var endpoint: Endpoint?
    /// Error shape for this call: the endpoint's family, or a guess for unknown paths.
    public var family: APIFamily
    public var request: RequestBody?
    public var attribution = Attribution()
    public var routeName: String?
    /// The matched route (nil for a call to a model by name without a route).
    public var route: CompiledRoute?
    public var target: ResolvedModel?
    /// Monotonic deadline of the whole call (every attempt), nanoseconds; nil = none.
    public var deadlineNanos: UInt64?
    /// Why the call went to a degraded target (`breaker_open`, `latency_p95`), if it did.
    public var degradedReason: String?
    /// Which last resort answered (`static`), if one did.
    public var fallback: String?
    /// The next attempt must use a new connection (a pooled one turned out stale).
    var wantsFreshConnection = false
    /// The upstream attempts made so far, in order.
    public var attempts: [Attempt] = []
    /// W3C trace context of this call (set by the trace stage).
    public var trace: TraceContext?
    /// Whether the metrics stage counted this call as in flight.
    public var countedInFlight = false
    /// How many stages' `enter` hooks ran (their `finish` hooks run; later ones' do not).
    public internal(set) var enteredStages = 0
    /// The loop's upstream pool (nil in tests that build calls by hand).
    let upstreamPool: UpstreamPool?

    // Response side.
    public var status: Int = 0
    public var streamed = false
    public var usage: TokenUsage?
    public var costUSD: Double?
    public var errorCode: SluiceErrorCode?
    public var errorMessage: String?
    /// When the first byte of the answer's source arrived (monotonic nanoseconds).
    public var firstByteNanos: UInt64?
    /// Set once the call is over: `finish` hooks ran and nothing may touch the call again.
    public var endNanos: UInt64?
    public var outcome: CallOutcome = .completed
    public var bytesOut = 0

    public convenience init(id: String, head: HTTPRequestHead, body: ByteBuffer, transport: Transport, startNanos: UInt64, snapshot: RuntimeSnapshot, credentials: CredentialSet, family: APIFamily, randomBits: UInt64 = 0) {
        self.init(id: id, head: head, body: body, transport: transport, startNanos: startNanos, snapshot: snapshot, credentials: credentials, family: family, randomBits: randomBits, traceBits: (randomBits ^ 0x5DEE_CE66_D1CE_4E5B, randomBits &* 0x9E37_79B9_7F4A_7C15, randomBits | 1), wallClock: WallClockCache(), loopLocal: LoopLocalStorage(), upstreamPool: nil)
    }

    init(id: String, head: HTTPRequestHead, body: ByteBuffer, transport: Transport, startNanos: UInt64, snapshot: RuntimeSnapshot, credentials: CredentialSet, family: APIFamily, randomBits: UInt64, traceBits: (high: UInt64, low: UInt64, span: UInt64), wallClock: WallClockCache, loopLocal: LoopLocalStorage, upstreamPool: UpstreamPool?) {
        self.upstreamPool = upstreamPool
        self.traceBits = traceBits
        self.wallClock = wallClock
        self.loopLocal = loopLocal
        self.id = id
        self.head = head
        self.body = body
        self.transport = transport
        self.startNanos = startNanos
        self.snapshot = snapshot
        self.credentials = credentials
        self.family = family
        self.randomBits = randomBits
    }

    /// The endpoint label for logs and metrics (`unknown` when none matched).
    public var endpointLabel: String { endpoint?.label ?? "unknown" }

    /// Whether the call is over (its `finish` hooks ran).
    public var isFinished: Bool { endNanos != nil }

    /// The last attempt's provider status.
    public var upstreamStatus: Int? { attempts.last?.status }

    /// Why the last attempt failed, if it did.
    public var upstreamFailure: UpstreamFailureKind? { attempts.last?.failure }

    /// When the first upstream attempt started.
    public var upstreamStartNanos: UInt64? { attempts.first?.startNanos }

    /// Every token the providers reported for this call: the answer's usage plus what
    /// abandoned attempts reported. Nil when none reported any.
    public var billedUsage: TokenUsage? {
        var total = usage
        for attempt in attempts {
            guard let extra = attempt.usage else { continue }
            var sum = total ?? TokenUsage()
            sum.inputTokens += extra.inputTokens
            sum.outputTokens += extra.outputTokens
            sum.cachedInputTokens += extra.cachedInputTokens
            total = sum
        }
        return total
    }
}

/// A response Sluice makes itself instead of calling upstream: JSON by default, or any
/// content type — `text/event-stream` bodies are sent as a stream, event by event.
public struct LocalReply: Sendable {
    public var status: Int
    public var headers: [(String, String)]
    public var contentType: String
    public var body: String
    /// The stable error code, for Sluice's own errors (sent as `x-sluice-error-code`).
    public var errorCode: SluiceErrorCode?

    public init(status: Int, headers: [(String, String)] = [], contentType: String = "application/json", body: String, errorCode: SluiceErrorCode? = nil) {
        self.status = status
        self.headers = headers
        self.contentType = contentType
        self.body = body
        self.errorCode = errorCode
    }

    /// Whether the body is a server-sent event stream.
    public var isEventStream: Bool { contentType.hasPrefix("text/event-stream") }

    /// An error in the caller's API shape with a stable code.
    public static func error(_ code: SluiceErrorCode, _ message: String, family: APIFamily, param: String? = nil, headers: [(String, String)] = []) -> LocalReply {
        LocalReply(
            status: code.status,
            headers: headers,
            body: WireError.body(family: family, code: code, message: message, param: param),
            errorCode: code
        )
    }
}
