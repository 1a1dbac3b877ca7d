import NIOCore
import NIOHTTP1
import SluiceWire

/// Where a call's answer comes from: a producer with demand that emits a head, body parts
/// (or SSE events), then an end or a failure.
///
/// The upstream exchange is one; so is a ``LocalReplySource``; later a cache player, a
/// coalesced call's fan-out, a translator wrapped around another source, or a static
/// fallback. A source lives on the call's event loop and is driven only from there:
///
/// ```swift
/// let source = pipeline.invoke(call)     // the innermost step, wrapped by around-hooks
/// source.start(sink: handler)            // head, body…, end | failure arrive at the sink
/// source.setDemand(false)                // the client cannot keep up: stop producing
/// source.setDemand(true)                 // go on
/// source.cancel()                        // the client left: stop, say nothing more
/// ```
///
/// A source calls its sink at most once with `sourceDidEnd` or `sourceDidFail`, and never
/// after `cancel()`. Whether the failure happened before or after the head is the sink's to
/// know (it saw the head or not): a failure before the head may still be answered another
/// way (an error reply, a retry); after it, the answer is ended in the caller's format.
public protocol ResponseSource: AnyObject {
    /// Begins producing into `sink` (held weakly: the sink owns the source).
    func start(sink: any ResponseSink)
    /// Backpressure: `false` asks the source to stop producing until `true` again.
    func setDemand(_ wanted: Bool)
    /// Abandons the answer; the source says nothing more to its sink.
    func cancel()
}

/// Receives what a ``ResponseSource`` produces, on the call's event loop.
public protocol ResponseSink: AnyObject {
    func sourceDidEmitHead(_ head: HTTPResponseHead)
    func sourceDidEmitBody(_ part: ByteBuffer)
    func sourceDidEnd()
    func sourceDidFail(_ failure: ResponseFailure)
}

/// Why a source could not finish its answer.
public struct ResponseFailure: Error, Sendable, CustomStringConvertible {
    public var kind: UpstreamFailureKind
    public var detail: String
    /// The error code for the caller when it is not the kind's usual one (a full
    /// connection queue is `overloaded`, not the provider's failure).
    public var code: SluiceErrorCode?
    /// The provider cannot have seen the request (a stale pooled connection closed before
    /// it was written): sending it again is safe.
    public var requestUnprocessed: Bool

    public init(kind: UpstreamFailureKind, detail: String, code: SluiceErrorCode? = nil, requestUnprocessed: Bool = false) {
        self.kind = kind
        self.detail = detail
        self.code = code
        self.requestUnprocessed = requestUnprocessed
    }

    public var description: String { "\(kind.rawValue): \(detail)" }
}
