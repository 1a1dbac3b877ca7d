import NIOCore
import NIOHTTP1

/// What a stage decided about a call.
public enum StageDecision: Sendable {
    /// Go on to the next stage.
    case next
    /// Answer now with this reply; later stages and the upstream call are skipped.
    case reply(LocalReply)
    /// Wait for the future (for instance a rate-limit queue), then act on its decision.
    case suspend(EventLoopFuture<StageDecision>)
}

/// One step of the request path. Stages are built once at start-up and shared by every
/// call; per-call state lives on the ``Call``.
///
/// All three hooks run on the call's event loop and must not block. A stage that has to
/// wait returns ``StageDecision/suspend(_:)`` with a future on that loop.
///
/// ```swift
/// struct DenyBatchStage: CallStage {
///     let name = "deny-batch"
///     func enter(_ call: Call) -> StageDecision {
///         call.attribution.priority == .batch
///             ? .reply(.error(.overloaded, "batch is paused", family: call.family))
///             : .next
///     }
/// }
/// ```
public protocol CallStage: Sendable {
    /// Short name, used in logs and docs.
    var name: String { get }
    /// Runs in pipeline order before the upstream call.
    func enter(_ call: Call) -> StageDecision
    /// Adds response headers (or trailers, when `trailers` is true) before they are sent.
    func decorate(_ call: Call, headers: inout HTTPHeaders, trailers: Bool)
    /// Runs in pipeline order once the call is over, whatever its outcome.
    func finish(_ call: Call)
}

extension CallStage {
    public func decorate(_ call: Call, headers: inout HTTPHeaders, trailers: Bool) {}
    public func finish(_ call: Call) {}
}
