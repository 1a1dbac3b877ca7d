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
/// All hooks run on the call's event loop and must not block. A stage that has to wait
/// returns ``StageDecision/suspend(_:)`` with a future on that loop.
///
/// A stage that must see or redo the call itself (retry, failover, cache fill, coalescing)
/// sets ``wrapsCall`` and implements ``around(_:next:)``: it gets the rest of the pipeline
/// as `next` (down to the upstream call) and returns the ``ResponseSource`` the client's
/// answer comes from — `next(call)` itself, a wrapper around it, or another source.
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
    /// Whether ``around(_:next:)`` does anything (stages that only inspect leave it false,
    /// and the pipeline skips them when it builds the call's source).
    var wrapsCall: Bool { get }
    /// Produces the call's answer, usually by running `next` (once, or again with another
    /// target). Runs after every `enter` said `next`, outermost stage first.
    func around(_ call: Call, next: CallNext) -> any ResponseSource
    /// Adds response headers (or trailers, when `trailers` is true) before they are sent.
    func decorate(_ call: Call, headers: inout HTTPHeaders, trailers: Bool)
    /// Runs in pipeline order once the call is over, whatever its outcome — for stages
    /// whose `enter` ran, and for observers that set ``finishesEveryCall``.
    func finish(_ call: Call)
    /// Whether `finish` runs for every call, even one answered before this stage's `enter`
    /// (accounting, metrics and the access log must see a 404 too).
    var finishesEveryCall: Bool { get }
}

extension CallStage {
    public var wrapsCall: Bool { false }
    public var finishesEveryCall: Bool { false }
    public func around(_ call: Call, next: CallNext) -> any ResponseSource { next(call) }
    public func decorate(_ call: Call, headers: inout HTTPHeaders, trailers: Bool) {}
    public func finish(_ call: Call) {}
}

/// The rest of the pipeline below a wrapping stage, down to the upstream call: calling it
/// starts a new attempt with the call's current `target` and returns its source.
public struct CallNext {
    let pipeline: Pipeline
    let index: Int

    /// Runs the inner stages' around-hooks and then the upstream call.
    public func callAsFunction(_ call: Call) -> any ResponseSource {
        pipeline.invoke(call, from: index)
    }
}
