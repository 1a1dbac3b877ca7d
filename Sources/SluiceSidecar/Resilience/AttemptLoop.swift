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
    private let call: Call
    private let next: CallNext
    /// The route's chosen target, then its fallbacks (`candidate(_:)`), without building
    /// an array per call.
    private let primary: ResolvedModel
    private let fallbacks: [ResolvedModel]
    private let lastResorts: [any LastResort]
    private let eventLoop: any EventLoop
    private var planner: AttemptPlanner
    private weak var sink: (any ResponseSink)?
    private var current: (any ResponseSource)?
    private var admission: CircuitBreaker.Admission = .allowed
    private var admissionRound = 0
    private var attemptIndex: Int?
    /// Whether the current attempt's breaker report was made.
    private var reported = false
    private var heldHead: HTTPResponseHead?
    /// Stream events held with the head until the first token (with a first-token timeout).
    private var heldParts: [ByteBuffer] = []
    private var heldBytes = 0
    private var firstTokenTimer: Scheduled<Void>?
    /// Most preamble bytes held before the stream is let through anyway.
    private static let maxHeldBytes = 64 * 1024
    private var phase: Phase = .idle
    private var demand = true
    private var waitTimer: Scheduled<Void>?
    private var deadlineTimer: Scheduled<Void>?
    private var lastFailure: ResponseFailure?
    private var random: SplitMix64

    private enum Phase {
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

    private func candidate(_ index: Int) -> ResolvedModel {
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

    private var isDone: Bool {
        if case .done = phase { return true }
        return false
    }

    // MARK: Steps

    private func act(_ step: AttemptPlanner.Step) {
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

    private func startAttempt(_ index: Int) {
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
    private func spendBudget(_ index: Int, now: UInt64, retry: RetrySettings) -> Bool {
        candidate(index).provider.health.tryRetry(now: now, percent: retry.budgetPercent, floor: retry.budgetFloor)
    }

    /// The current attempt failed before anything reached the client: try again, fail
    /// over, or give up.
    private func attemptFailed(_ failure: AttemptPlanner.Failure) {
        current = nil
        heldHead = nil
        heldParts = []
        heldBytes = 0
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
    private func giveUp() {
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

    private func deadlinePassed() {
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

    // MARK: ResponseSink (from the current attempt)

    func sourceDidEmitHead(_ head: HTTPResponseHead) {
        guard case .attempting = phase else {
            if case .relaying = phase { sink?.sourceDidEmitHead(head) }
            return
        }
        let status = Int(head.status.code)
        if let index = attemptIndex, call.attempts[index].headNanos == nil {
            call.attempts[index].headNanos = NIODeadline.now().uptimeNanoseconds
        }
        if Self.isRetryable(status: status) {
            // 408 and 409 say nothing about the target's health.
            let verdict: CircuitBreaker.Outcome = Self.countsAgainstBreaker(status: status) ? .failure : .abandoned
            // Reported before planning: a failure that opens the breaker is not retried.
            report(verdict)
            let now = monotonicMilliseconds()
            let retry = planner.retry
            let random = nextRandom()
            let step = planner.after(
                .init(retrySameTarget: true, retryAfterMilliseconds: Self.retryAfter(head.headers)),
                now: now, random: random, admit: { self.candidate($0).health.wouldAdmit(now: now) }, budget: { self.spendBudget($0, now: now, retry: retry) }
            )
            if step == .exhausted, !hasLastResort {
                // Nothing else will answer: the provider's own answer goes to the client.
                report(verdict)
                if let index = attemptIndex { call.attempts[index].outcome = .errorStatus }
                accept(head)
                return
            }
            endAttempt(.errorStatus, breaker: verdict)
            current?.cancel()
            current = nil
            lastFailure = ResponseFailure(kind: .closed, detail: "\(call.target?.provider.name ?? "upstream") answered \(status)")
            act(step)
            return
        }
        let isEventStream = head.headers.first(name: "content-type")?.lowercased().hasPrefix("text/event-stream") ?? false
        if isEventStream, (200..<300).contains(status) {
            // Held until the first event (or, with a first-token timeout, the first token):
            // a stream that stalls or breaks before then can still fail over unseen.
            heldHead = head
            if let firstToken = firstTokenTimeout(for: call.target) {
                firstTokenTimer = eventLoop.assumeIsolated().scheduleTask(in: .milliseconds(Int64(firstToken))) { [weak self] in
                    self?.firstTokenLate(after: firstToken)
                }
            }
            return
        }
        accept(head)
    }

    func sourceDidEmitBody(_ part: ByteBuffer) {
        switch phase {
        case .attempting:
            if firstTokenTimer != nil {
                heldParts.append(part)
                heldBytes += part.readableBytes
                guard heldBytes > Self.maxHeldBytes || FirstTokenDetector.carriesToken(part, family: call.family) else { return }
                releaseHeld()
                return
            }
            if let head = heldHead {
                heldHead = nil
                accept(head)
            }
            sink?.sourceDidEmitBody(part)
        case .relaying:
            sink?.sourceDidEmitBody(part)
        default:
            break
        }
    }

    func sourceDidEnd() {
        switch phase {
        case .attempting:
            releaseHeld()
            if let head = heldHead {
                heldHead = nil
                accept(head)
            }
            fallthrough
        case .relaying:
            phase = .done
            stopTimers()
            endAttempt(nil, breaker: .success)
            current = nil
            sink?.sourceDidEnd()
        default:
            break
        }
    }

    func sourceDidFail(_ failure: ResponseFailure) {
        switch phase {
        case .attempting:
            keepUsageOfHeldParts()
            let kind = failure.kind
            // A full connection queue or a request a stale connection never delivered is
            // not the target's fault.
            endAttempt(AttemptOutcome(kind), breaker: failure.code == .overloaded || failure.requestUnprocessed ? .abandoned : .failure)
            lastFailure = failure
            attemptFailed(.init(retrySameTarget: kind == .connect && failure.code != .overloaded, unprocessed: failure.requestUnprocessed))
        case .relaying:
            phase = .done
            stopTimers()
            endAttempt(AttemptOutcome(failure.kind), breaker: .failure)
            current = nil
            sink?.sourceDidFail(failure)
        default:
            break
        }
    }

    // MARK: First token

    /// The first-token timeout for an attempt on `target` (route over provider), if any.
    private func firstTokenTimeout(for target: ResolvedModel?) -> Int? {
        guard let target else { return nil }
        return call.route?.timeouts.firstToken ?? target.provider.timeouts.firstToken
    }

    /// The first token came: the held head and preamble go out, then the stream flows.
    private func releaseHeld() {
        firstTokenTimer?.cancel()
        firstTokenTimer = nil
        let parts = heldParts
        heldParts = []
        heldBytes = 0
        if let head = heldHead {
            heldHead = nil
            accept(head)
        }
        for part in parts { sink?.sourceDidEmitBody(part) }
    }

    /// No token within the first-token timeout: this attempt is dropped unseen.
    private func firstTokenLate(after milliseconds: Int) {
        firstTokenTimer = nil
        guard case .attempting = phase, heldHead != nil else { return }
        keepUsageOfHeldParts()
        heldHead = nil
        heldParts = []
        heldBytes = 0
        current?.cancel()
        let name = call.target?.provider.name ?? "upstream"
        let failure = ResponseFailure(kind: .timeout, detail: "no first token from \(name) within \(milliseconds) ms")
        endAttempt(.timeout, breaker: .failure)
        lastFailure = failure
        attemptFailed(.init(retrySameTarget: false))
    }

    /// A stream dropped before its first token may have reported usage already (Anthropic's
    /// `message_start` carries the input tokens): the provider bills it, so it is kept on
    /// the attempt.
    private func keepUsageOfHeldParts() {
        guard let index = attemptIndex, !heldParts.isEmpty else { return }
        var tracker = StreamUsageTracker(family: call.family, hideInjectedUsage: false)
        var splitter = SSEEventSplitter()
        let allocator = ByteBufferAllocator()
        for part in heldParts {
            _ = splitter.append(part) { event in _ = tracker.observe(event, allocator: allocator) }
        }
        if let rest = splitter.takePartialEvent() { _ = tracker.observe(rest, allocator: allocator) }
        call.attempts[index].usage = tracker.usage
    }

    // MARK: Helpers

    private var hasLastResort: Bool {
        lastResorts.contains { $0.canAnswer(call) }
    }

    /// The attempt's answer goes to the client from here on.
    private func accept(_ head: HTTPResponseHead) {
        phase = .relaying
        if let index = attemptIndex, call.attempts[index].outcome == nil {
            call.attempts[index].outcome = (200..<400).contains(Int(head.status.code)) ? .ok : .clientError
        }
        sink?.sourceDidEmitHead(head)
    }

    /// Tells the attempt's target breaker (and latency window) how it went, once.
    private func report(_ verdict: CircuitBreaker.Outcome) {
        guard let index = attemptIndex, !reported else { return }
        reported = true
        let attempt = call.attempts[index]
        let now = NIODeadline.now().uptimeNanoseconds
        let latency = verdict == .success ? attempt.headNanos.map { ($0 &- attempt.startNanos) / 1_000_000 } : nil
        attempt.target.health.record(verdict, admission: admission, round: admissionRound, headMilliseconds: latency, now: now / 1_000_000)
    }

    /// Closes the books on the current attempt: its breaker report, its outcome (`nil`
    /// keeps the one set at its head) and its end time.
    private func endAttempt(_ outcome: AttemptOutcome?, breaker verdict: CircuitBreaker.Outcome) {
        guard let index = attemptIndex else { return }
        report(verdict)
        if let outcome {
            call.attempts[index].outcome = outcome
        } else if call.attempts[index].outcome == nil {
            call.attempts[index].outcome = call.attempts[index].status.map { (200..<400).contains($0) ? .ok : .clientError } ?? .cancelled
        }
        call.attempts[index].endNanos = NIODeadline.now().uptimeNanoseconds
        attemptIndex = nil
    }

    private func stopTimers() {
        waitTimer?.cancel()
        waitTimer = nil
        firstTokenTimer?.cancel()
        firstTokenTimer = nil
        deadlineTimer?.cancel()
        deadlineTimer = nil
    }

    private func nextRandom() -> UInt64 {
        random.next()
    }

    /// Statuses worth another try: the provider did not act on the request, or asks for a wait.
    static func isRetryable(status: Int) -> Bool {
        switch status {
        case 408, 409, 429, 500, 502, 503, 504, 529: true
        default: false
        }
    }

    /// Statuses that say the target is unwell (a 408 or 409 says nothing about it).
    static func countsAgainstBreaker(status: Int) -> Bool {
        status == 429 || status >= 500
    }

    /// The wait a provider asked for: `retry-after-ms` (milliseconds), or `retry-after`
    /// in seconds (an HTTP date is not honoured: the backoff applies).
    static func retryAfter(_ headers: HTTPHeaders) -> UInt64? {
        if let value = headers.first(name: "retry-after-ms"), let milliseconds = Double(value.trimmingCharacters(in: .whitespaces)), milliseconds >= 0, milliseconds < 86_400_000 {
            return UInt64(milliseconds)
        }
        if let value = headers.first(name: "retry-after"), let seconds = Double(value.trimmingCharacters(in: .whitespaces)), seconds >= 0, seconds < 86_400 {
            return UInt64(seconds * 1_000)
        }
        return nil
    }
}
