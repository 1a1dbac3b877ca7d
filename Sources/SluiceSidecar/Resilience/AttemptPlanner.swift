import SluicePolicy

/// The decisions of one call's attempt loop, as a value type: which candidate target to
/// try, whether to retry the same one (and after how long), fail over to the next, or give
/// up. Candidates are the route's chosen target followed by its fallbacks, by index.
///
/// Rules:
/// - a **retry** (same target) only for answers the provider cannot have acted on: a
///   failed connect, a retryable status (408, 409, 429, 500, 502, 503, 504, 529), or a
///   request a stale pooled connection never delivered; at most `retry.attempts` per
///   target, each after an exponential backoff with full jitter (or the provider's
///   `Retry-After` when it fits in the deadline), and only while the provider's retry
///   budget allows;
/// - a **failover** (next candidate) for any failure before the answer reached the client
///   (timeouts and resets included): the next target the breaker admits, at once;
/// - nothing is tried past the call's deadline.
///
/// The breaker and budget are asked through closures, so this type is driven by plain
/// values and a manual clock in tests.
struct AttemptPlanner: Sendable {
    /// What the loop does next.
    enum Step: Equatable {
        /// Start an attempt on this candidate now.
        case attempt(candidate: Int)
        /// Wait, then attempt this candidate (a retry).
        case wait(milliseconds: UInt64, candidate: Int)
        /// Nothing left to try.
        case exhausted
    }

    /// How a finished attempt may be followed.
    struct Failure: Equatable {
        /// The same target may be tried again (connect failure, retryable status).
        var retrySameTarget: Bool
        /// The provider asked for this wait (`Retry-After`, `retry-after-ms`).
        var retryAfterMilliseconds: UInt64?
        /// A stale pooled connection lost the request before the provider saw it.
        var unprocessed: Bool = false
    }

    let retry: RetrySettings
    let candidateCount: Int
    /// Monotonic milliseconds; nil = no deadline.
    let deadline: UInt64?
    private(set) var candidate = 0
    private(set) var attemptsOnCandidate = 0
    private(set) var staleResends = 0
    /// Candidates passed over because their breaker was open.
    private(set) var skipped: [Int] = []

    init(retry: RetrySettings, candidateCount: Int, deadline: UInt64?) {
        self.retry = retry
        self.candidateCount = candidateCount
        self.deadline = deadline
    }

    /// The first attempt: the first candidate whose breaker admits a call.
    mutating func first(now: UInt64, admit: (Int) -> Bool) -> Step {
        if let deadline, now >= deadline { return .exhausted }
        return failover(from: -1, now: now, admit: admit)
    }

    /// The attempt on the current candidate failed (before any byte reached the client).
    mutating func after(_ failure: Failure, now: UInt64, random: UInt64, admit: (Int) -> Bool, budget: (Int) -> Bool) -> Step {
        if let deadline, now >= deadline { return .exhausted }
        if failure.unprocessed, staleResends == 0, budget(candidate) {
            // The provider never saw it: send it again at once, on a new connection.
            staleResends += 1
            return .attempt(candidate: candidate)
        }
        if failure.retrySameTarget, attemptsOnCandidate < retry.attempts {
            let wait = failure.retryAfterMilliseconds ?? backoff(retry: attemptsOnCandidate, random: random)
            if fits(wait, now: now, honouringProvider: failure.retryAfterMilliseconds != nil), admit(candidate), budget(candidate) {
                attemptsOnCandidate += 1
                return wait == 0 ? .attempt(candidate: candidate) : .wait(milliseconds: wait, candidate: candidate)
            }
        }
        return failover(from: candidate, now: now, admit: admit)
    }

    /// Exponential backoff with full jitter: uniform in [0, min(max, base × 2^(n-1))].
    func backoff(retry number: Int, random: UInt64) -> UInt64 {
        let base = UInt64(max(0, self.retry.backoffMilliseconds))
        let cap = UInt64(max(0, self.retry.maxBackoffMilliseconds))
        let exponent = min(max(number - 1, 0), 30)
        let ceiling = min(cap, base << UInt64(exponent))
        guard ceiling > 0 else { return 0 }
        return random % (ceiling + 1)
    }

    /// A wait fits when it ends before the deadline; with no deadline, a provider's
    /// `Retry-After` is honoured up to `max_backoff` (a longer one sends the call on).
    private func fits(_ wait: UInt64, now: UInt64, honouringProvider: Bool) -> Bool {
        if let deadline { return now + wait < deadline }
        return !honouringProvider || wait <= UInt64(max(0, retry.maxBackoffMilliseconds))
    }

    private mutating func failover(from current: Int, now: UInt64, admit: (Int) -> Bool) -> Step {
        var next = current + 1
        while next < candidateCount {
            if admit(next) {
                candidate = next
                attemptsOnCandidate = 1
                return .attempt(candidate: next)
            }
            skipped.append(next)
            next += 1
        }
        candidate = candidateCount
        return .exhausted
    }
}
