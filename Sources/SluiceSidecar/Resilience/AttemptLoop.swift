import NIOCore
import NIOHTTP1
import SluicePolicy
import SluiceWire

/// The ``ResponseSource`` of a call with resilience: runs upstream attempts through `next`
/// (the rest of the pipeline) as the ``AttemptPlanner`` decides — retries on the same
/// target, failover down the candidates, then a last resort (``LastResort``) — and hands
/// the client exactly one answer.
///
/// Nothing reaches the client until an attempt is accepted: a retryable status is judged
/// on its head, and a streamed 200 is held until its first event, so a stream that stalls
/// or resets before its first event can still fail over. Once the answer is under way the
/// loop only relays (and the call's deadline still applies): a stream is never retried,
/// spliced or duplicated.
///
/// Each attempt reports to its target's breaker and latency window and, when it is a
/// retry, takes from its provider's retry budget. A call that succeeds at once costs one
/// breaker admission, one report and one budget count.
final class AttemptLoop: ResponseSource, ResponseSink {
    let call: Call
    let next: CallNext
    /// The route's chosen target, then its fallbacks (`candidate(_:)`), without building
    /// an array per call.
    let primary: ResolvedModel
    let fallbacks: [ResolvedModel]
    let lastResorts: [any LastResort]
    let eventLoop: any EventLoop
    var planner: AttemptPlanner
    weak var sink: (any ResponseSink)?
    var current: (any ResponseSource)?
    var admission: CircuitBreaker.Admission = .allowed
    var admissionRound = 0
    var attemptIndex: Int?
    /// Whether the current attempt's breaker report was made.
    var reported = false
    var heldHead: HTTPResponseHead?
    /// Stream events held with the head until the first token (with a first-token timeout).
    var heldParts: [ByteBuffer] = []
    var heldBytes = 0
    var firstTokenTimer: Scheduled<Void>?
    /// Most preamble bytes held before the stream is let through anyway.
    static let maxHeldBytes = 64 * 1024
    /// A whole (non-stream) answer held while failover is still possible: most bytes.
    /// Small on purpose — these bytes are outside the memory budget until they flow, and
    /// 4,096 connections × 64 KiB stays within the budget's default — and most chat
    /// answers fit.
    static let maxHeldAnswerBytes = 64 * 1024
    /// Whether the current attempt's whole answer is being held until it ends.
    var holdingWholeAnswer = false
    var phase: Phase = .idle
    var demand = true
    var waitTimer: Scheduled<Void>?
    var deadlineTimer: Scheduled<Void>?
    var lastFailure: ResponseFailure?
    var random: SplitMix64

    enum Phase {
        case idle
        /// An attempt runs; nothing has gone to the client.
        case attempting
        /// Between attempts (backoff).
        case waiting
        /// The accepted answer is being relayed.
        case relaying
        case done
    }

    init(call: Call, next: CallNext, primary: ResolvedModel, fallbacks: [ResolvedModel], retry: RetrySettings, lastResorts: [any LastResort], eventLoop: any EventLoop) {
        self.call = call
        self.next = next
        self.primary = primary
        self.fallbacks = fallbacks
        self.lastResorts = lastResorts
        self.eventLoop = eventLoop
        self.random = SplitMix64(seed: call.randomBits ^ 0xA076_1D64_78BD_642F)
        self.planner = AttemptPlanner(retry: retry, candidateCount: 1 + fallbacks.count, deadline: call.deadlineNanos.map { $0 / 1_000_000 })
    }

    func candidate(_ index: Int) -> ResolvedModel {
        index == 0 ? primary : fallbacks[index - 1]
    }

    // MARK: ResponseSource

    func start(sink: any ResponseSink) {
        guard case .idle = phase else { return }
        self.sink = sink
        if let deadline = call.deadlineNanos {
            let now = NIODeadline.now().uptimeNanoseconds
            deadlineTimer = eventLoop.assumeIsolated().scheduleTask(in: .nanoseconds(Int64(deadline > now ? deadline - now : 0))) { [weak self] in
                self?.deadlinePassed()
            }
        }
        let now = monotonicMilliseconds()
        act(planner.first(now: now, admit: { self.candidate($0).health.wouldAdmit(now: now) }))
    }

    func setDemand(_ wanted: Bool) {
        demand = wanted
        current?.setDemand(wanted)
    }

    func cancel() {
        guard !isDone else { return }
        phase = .done
        sink = nil
        endAttempt(.cancelled, breaker: .abandoned)
        current?.cancel()
        current = nil
        stopTimers()
    }

    var isDone: Bool {
        if case .done = phase { return true }
        return false
    }

    // MARK: Steps

    func act(_ step: AttemptPlanner.Step) {
        switch step {
        case .attempt(let index):
            startAttempt(index)
        case .wait(let milliseconds, let index):
            phase = .waiting
            waitTimer = eventLoop.assumeIsolated().scheduleTask(in: .milliseconds(Int64(milliseconds))) { [weak self] in
                guard let self, case .waiting = self.phase else { return }
                self.waitTimer = nil
                self.startAttempt(index)
            }
        case .exhausted:
            giveUp()
        }
    }

    func startAttempt(_ index: Int) {
        let target = candidate(index)
        let now = monotonicMilliseconds()
        (admission, admissionRound) = target.health.admit(now: now)
        guard admission != .rejected else {
            // Another call took the last probe slot meanwhile: pass this target over.
            let random = nextRandom()
            act(planner.after(.init(retrySameTarget: false), now: now, random: random, admit: { self.candidate($0).health.wouldAdmit(now: now) }, budget: { _ in false }))
            return
        }
        if call.attempts.isEmpty || call.attempts.last?.target.provider.name != target.provider.name {
            target.provider.health.recordCall(now: now)
        }
        call.target = target
        phase = .attempting
        heldHead = nil
        let countBefore = call.attempts.count
        let source = next(call)
        call.wantsFreshConnection = false
        attemptIndex = call.attempts.count > countBefore ? call.attempts.count - 1 : nil
        reported = false
        current = source
        source.setDemand(demand)
        source.start(sink: self)
    }

    /// Takes one retry from the provider's budget of candidate `index`.
    func spendBudget(_ index: Int, now: UInt64, retry: RetrySettings) -> Bool {
        candidate(index).provider.health.tryRetry(now: now, percent: retry.budgetPercent, floor: retry.budgetFloor)
    }

    /// The current attempt failed before anything reached the client: try again, fail
    /// over, or give up.
    func attemptFailed(_ failure: AttemptPlanner.Failure) {
        current = nil
        heldHead = nil
        heldParts = []
        heldBytes = 0
        holdingWholeAnswer = false
        firstTokenTimer?.cancel()
        firstTokenTimer = nil
        let now = monotonicMilliseconds()
        if failure.unprocessed { call.wantsFreshConnection = true }
        // Read before the planner's mutating call that runs the closures (exclusivity).
        let retry = planner.retry
        let random = nextRandom()
        act(planner.after(failure, now: now, random: random, admit: { self.candidate($0).health.wouldAdmit(now: now) }, budget: { self.spendBudget($0, now: now, retry: retry) }))
    }

    /// Nothing left to try: a last resort answers, or the last failure goes to the client.
    func giveUp() {
        for resort in lastResorts {
            if let source = resort.source(for: call) {
                phase = .relaying
                current = source
                source.setDemand(demand)
                source.start(sink: self)
                return
            }
        }
        phase = .done
        stopTimers()
        let failure = lastFailure ?? ResponseFailure(
            kind: .connect,
            detail: fallbacks.isEmpty ? "the circuit breaker of \(primary.name) is open" : "every target's circuit breaker is open",
            code: .noHealthyUpstream
        )
        sink?.sourceDidFail(failure)
    }

    func deadlinePassed() {
        deadlineTimer = nil
        let detail = "the call's deadline passed after \(call.attempts.count) attempt(s)"
        switch phase {
        case .attempting, .waiting:
            current?.cancel()
            current = nil
            waitTimer?.cancel()
            waitTimer = nil
            endAttempt(.timeout, breaker: .abandoned)
            lastFailure = ResponseFailure(kind: .timeout, detail: detail)
            giveUp()
        case .relaying:
            // The answer is under way: end it (an error event for a stream).
            current?.cancel()
            current = nil
            endAttempt(.timeout, breaker: .abandoned)
            phase = .done
            stopTimers()
            sink?.sourceDidFail(ResponseFailure(kind: .timeout, detail: detail))
        case .idle, .done:
            break
        }
    }
}
