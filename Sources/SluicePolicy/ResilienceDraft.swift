// The drafts of the timeout, breaker, retry, degrade and fallback-reply settings, and the
// typed values they become (defaults from the Swift types for every key left out).

/// A provider's or a route's `timeouts:` as read, in milliseconds.
struct TimeoutsDraft {
    var connect: Located<Int>?
    var head: Located<Int>?
    var firstToken: Located<Int>?
    var idle: Located<Int>?
    var total: Located<Int>?

    var timeouts: Timeouts {
        Timeouts(
            connect: connect?.value, head: head?.value, firstToken: firstToken?.value,
            idle: idle?.value, total: total?.value
        )
    }
}

/// A provider's `breaker:` as read.
struct BreakerDraft {
    var consecutiveFailures: Located<Int>?
    var failureRatio: Located<Double>?
    var window: Located<Int>?
    var minCalls: Located<Int>?
    var openFor: Located<Int>?
    var probes: Located<Int>?

    var settings: BreakerSettings {
        let defaults = BreakerSettings()
        return BreakerSettings(
            consecutiveFailures: consecutiveFailures?.value ?? defaults.consecutiveFailures,
            failureRatio: failureRatio?.value ?? defaults.failureRatio,
            windowMilliseconds: window?.value ?? defaults.windowMilliseconds,
            minimumCalls: minCalls?.value ?? defaults.minimumCalls,
            openForMilliseconds: openFor?.value ?? defaults.openForMilliseconds,
            probes: probes?.value ?? defaults.probes
        )
    }
}

/// A route's `retry:` as read.
struct RetryDraft {
    var attempts: Located<Int>?
    var backoff: Located<Int>?
    var maxBackoff: Located<Int>?
    var budgetPercent: Located<Double>?
    var budgetFloor: Located<Int>?

    var settings: RetrySettings {
        let defaults = RetrySettings()
        return RetrySettings(
            attempts: attempts?.value ?? defaults.attempts,
            backoffMilliseconds: backoff?.value ?? defaults.backoffMilliseconds,
            maxBackoffMilliseconds: maxBackoff?.value ?? defaults.maxBackoffMilliseconds,
            budgetPercent: budgetPercent?.value ?? defaults.budgetPercent,
            budgetFloor: budgetFloor?.value ?? defaults.budgetFloor
        )
    }
}

/// A route's `degrade:` as read.
struct DegradeDraft {
    /// The `when:` mapping itself, when it was a mapping.
    var when: Located<Void>?
    var latencyP95Over: Located<Int>?
    var breakerOpen: Located<Bool>?
    /// A condition was written with a value already reported as wrong.
    var hasInvalidCondition = false
    var to: Located<String>?

    /// Whether `when:` names a condition that can hold.
    var hasCondition: Bool {
        latencyP95Over != nil || breakerOpen?.value == true
    }

    var rule: DegradeRule? {
        guard let to else { return nil }
        return DegradeRule(
            latencyP95OverMilliseconds: latencyP95Over?.value, breakerOpen: breakerOpen?.value ?? false, to: to.value
        )
    }
}

/// A route's `fallback_reply:` as read.
struct FallbackReplyDraft {
    var content: Located<String>?

    var reply: FallbackReply? {
        content.map { FallbackReply(content: $0.value) }
    }
}

/// One entry of a string → string mapping (`deployments:`, `headers:`): the key where it
/// was written, and its value if that was a non-empty string.
struct KeyValueDraft {
    var key: Located<String>
    var value: Located<String>?
}
