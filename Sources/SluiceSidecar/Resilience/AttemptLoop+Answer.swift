import NIOCore
import NIOHTTP1
import SluicePolicy
import SluiceWire

/// The answer side of ``AttemptLoop``: what the current attempt produces, judged (retry,
/// fail over, hold until the first token) before anything is handed to the client.
extension AttemptLoop {
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
        if (200..<300).contains(status), canStillAnswerOtherwise {
            // A whole answer (JSON) is held until it ends when another target or a last
            // resort could still answer: one that breaks mid-body then fails over unseen.
            // Only references to the parts are kept; past `maxHeldAnswerBytes` it flows.
            heldHead = head
            holdingWholeAnswer = true
            return
        }
        accept(head)
    }

    /// Whether a failure of this attempt could still be answered by another candidate
    /// or a last resort.
    var canStillAnswerOtherwise: Bool {
        planner.candidate + 1 < planner.candidateCount || hasLastResort
    }

    func sourceDidEmitBody(_ part: ByteBuffer) {
        switch phase {
        case .attempting:
            if holdingWholeAnswer {
                heldParts.append(part)
                heldBytes += part.readableBytes
                if heldBytes > Self.maxHeldAnswerBytes { releaseHeld() }
                return
            }
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
    func firstTokenTimeout(for target: ResolvedModel?) -> Int? {
        guard let target else { return nil }
        return call.route?.timeouts.firstToken ?? target.provider.timeouts.firstToken
    }

    /// The first token came: the held head and preamble go out, then the stream flows.
    func releaseHeld() {
        firstTokenTimer?.cancel()
        firstTokenTimer = nil
        holdingWholeAnswer = false
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
    func firstTokenLate(after milliseconds: Int) {
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
    func keepUsageOfHeldParts() {
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

    var hasLastResort: Bool {
        lastResorts.contains { $0.canAnswer(call) }
    }

    /// The attempt's answer goes to the client from here on.
    func accept(_ head: HTTPResponseHead) {
        phase = .relaying
        if let index = attemptIndex, call.attempts[index].outcome == nil {
            call.attempts[index].outcome = (200..<400).contains(Int(head.status.code)) ? .ok : .clientError
        }
        sink?.sourceDidEmitHead(head)
    }

    /// Tells the attempt's target breaker (and latency window) how it went, once.
    func report(_ verdict: CircuitBreaker.Outcome) {
        guard let index = attemptIndex, !reported else { return }
        reported = true
        let attempt = call.attempts[index]
        let now = NIODeadline.now().uptimeNanoseconds
        let latency = verdict == .success ? attempt.headNanos.map { ($0 &- attempt.startNanos) / 1_000_000 } : nil
        attempt.target.health.record(verdict, admission: admission, round: admissionRound, headMilliseconds: latency, now: now / 1_000_000)
    }

    /// Closes the books on the current attempt: its breaker report, its outcome (`nil`
    /// keeps the one set at its head) and its end time.
    func endAttempt(_ outcome: AttemptOutcome?, breaker verdict: CircuitBreaker.Outcome) {
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

    func stopTimers() {
        waitTimer?.cancel()
        waitTimer = nil
        firstTokenTimer?.cancel()
        firstTokenTimer = nil
        deadlineTimer?.cancel()
        deadlineTimer = nil
    }

    func nextRandom() -> UInt64 {
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
