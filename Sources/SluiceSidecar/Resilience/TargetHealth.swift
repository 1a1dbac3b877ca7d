import NIOConcurrencyHelpers
import NIOCore
import SluicePolicy

/// Monotonic milliseconds, the clock of breakers, budgets and latency windows.
@inline(__always)
func monotonicMilliseconds() -> UInt64 {
    NIODeadline.now().uptimeNanoseconds / 1_000_000
}

/// The health of one target (one provider and one model), shared by every event loop:
/// its circuit breaker and its recent latencies. One uncontended lock per attempt start
/// and end; nothing else on the call path touches it.
public final class TargetHealth: Sendable {
    public let provider: String
    public let model: String
    private let state: NIOLockedValueBox<State>

    struct State {
        var breaker: CircuitBreaker
        var latency = LatencyWindow()
        var attempts = 0
        var failures = 0
    }

    init(provider: String, model: String, breaker: BreakerSettings) {
        self.provider = provider
        self.model = model
        self.state = NIOLockedValueBox(State(breaker: CircuitBreaker(settings: breaker)))
    }

    /// Asks the breaker whether an attempt may go to this target now (and in which
    /// half-open round, for a probe).
    func admit(now: UInt64) -> (admission: CircuitBreaker.Admission, round: Int) {
        state.withLockedValue { state in
            let admission = state.breaker.admit(now: now)
            return (admission, state.breaker.round)
        }
    }

    /// Reports an attempt's outcome; a success with a head latency feeds the p95 window.
    func record(_ outcome: CircuitBreaker.Outcome, admission: CircuitBreaker.Admission, round: Int? = nil, headMilliseconds: UInt64?, now: UInt64) {
        state.withLockedValue { state in
            state.breaker.record(outcome, admission: admission, round: round, now: now)
            if outcome != .abandoned { state.attempts += 1 }
            if outcome == .failure { state.failures += 1 }
            if let headMilliseconds { state.latency.record(milliseconds: headMilliseconds, now: now) }
        }
    }

    /// Whether the breaker is open (or half-open, still unproven).
    func isOpen(now: UInt64) -> Bool {
        state.withLockedValue { $0.breaker.isOpen(now: now) }
    }

    /// Whether an attempt would be let through now (without taking a probe slot).
    func wouldAdmit(now: UInt64) -> Bool {
        state.withLockedValue { $0.breaker.wouldAdmit(now: now) }
    }

    /// The recent 95th-percentile head latency, nil with too few samples.
    func latencyP95(now: UInt64) -> UInt64? {
        state.withLockedValue { $0.latency.p95(now: now) }
    }

    /// A consistent copy, for `/debug/upstreams` and metrics.
    func snapshot(now: UInt64) -> (breaker: CircuitBreaker, p95: UInt64?, attempts: Int, failures: Int) {
        state.withLockedValue { state in
            let p95 = state.latency.p95(now: now)
            return (state.breaker, p95, state.attempts, state.failures)
        }
    }
}

/// The retry budget of one provider, shared by every event loop.
public final class ProviderHealth: Sendable {
    public let provider: String
    private let budget = NIOLockedValueBox(RetryBudget())

    init(provider: String) {
        self.provider = provider
    }

    func recordCall(now: UInt64) {
        budget.withLockedValue { $0.recordCall(now: now) }
    }

    func tryRetry(now: UInt64, percent: Double, floor: Int) -> Bool {
        budget.withLockedValue { $0.tryRetry(now: now, percent: percent, floor: floor) }
    }

    func totals(now: UInt64) -> (calls: Int, retries: Int) {
        budget.withLockedValue { $0.totals(now: now) }
    }
}

/// Every target's and provider's health, for the sidecar's lifetime: a new policy
/// snapshot picks up the same objects by name, so breakers and budgets survive reloads
/// (a changed breaker setting starts that target's breaker afresh).
public final class HealthRegistry: Sendable {
    private let entries = NIOLockedValueBox<Entries>(Entries())

    private struct Entries {
        var targets: [String: TargetHealth] = [:]
        var providers: [String: ProviderHealth] = [:]
    }

    public init() {}

    /// The health of `model` served by `provider`, created on first use.
    public func target(provider: String, model: String, breaker: BreakerSettings) -> TargetHealth {
        let key = provider + "\u{0}" + model
        return entries.withLockedValue { entries in
            if let existing = entries.targets[key], existing.snapshot(now: 0).breaker.settings == breaker { return existing }
            let fresh = TargetHealth(provider: provider, model: model, breaker: breaker)
            entries.targets[key] = fresh
            return fresh
        }
    }

    /// The retry budget of `provider`, created on first use.
    public func provider(_ name: String) -> ProviderHealth {
        entries.withLockedValue { entries in
            if let existing = entries.providers[name] { return existing }
            let fresh = ProviderHealth(provider: name)
            entries.providers[name] = fresh
            return fresh
        }
    }

    /// Every target known, sorted by provider then model.
    public var targets: [TargetHealth] {
        entries.withLockedValue { Array($0.targets.values) }.sorted { ($0.provider, $0.model) < ($1.provider, $1.model) }
    }

    /// Every provider known, sorted by name.
    public var providers: [ProviderHealth] {
        entries.withLockedValue { Array($0.providers.values) }.sorted { $0.provider < $1.provider }
    }
}
