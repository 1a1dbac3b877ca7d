import SluicePolicy

/// A circuit breaker for one target (one provider and one model), as a value type driven
/// by calls and outcomes on a clock the caller passes in (monotonic milliseconds).
///
/// - **closed**: every call goes through. It opens after `consecutiveFailures` failures in
///   a row, or when failures reach `failureRatio` of at least `minimumCalls` calls within
///   the sliding `window` (ten buckets, so the window slides in tenths).
/// - **open**: calls are refused without touching the provider, for `openFor`.
/// - **half-open**: up to `probes` calls go through at a time; once `probes` of them
///   succeed the breaker closes, and the first failure opens it again.
public struct CircuitBreaker: Sendable, Equatable {
    /// Where the breaker stands.
    public enum State: Sendable, Equatable {
        case closed
        case open(untilMilliseconds: UInt64)
        case halfOpen(inFlight: Int, succeeded: Int)

        /// The `sluice_circuit_state` value, ordered by severity so `max()` across pods
        /// shows the worst: 0 closed, 1 half-open, 2 open.
        public var gaugeValue: Int {
            switch self {
            case .closed: 0
            case .halfOpen: 1
            case .open: 2
            }
        }

        public var name: String {
            switch self {
            case .closed: "closed"
            case .open: "open"
            case .halfOpen: "half_open"
            }
        }
    }

    /// What the breaker says about one call.
    public enum Admission: Sendable, Equatable {
        /// Go ahead (closed).
        case allowed
        /// Go ahead as one of the half-open probes; report its outcome.
        case probe
        /// Skip this target: it is open, or its probes are all taken.
        case rejected
    }

    /// How a call through the breaker ended.
    public enum Outcome: Sendable, Equatable {
        case success
        case failure
        /// The call was abandoned (client gone) or never judged: frees a probe slot only.
        case abandoned
    }

    public let settings: BreakerSettings
    public private(set) var state: State = .closed
    public private(set) var consecutiveFailures = 0
    /// Times the breaker opened since it was made.
    public private(set) var openings = 0
    /// Counts half-open rounds: a probe admitted in one round and reporting in a later one
    /// is ignored (its slot and its verdict belong to a round that is over).
    public private(set) var round = 0
    private var buckets: [Bucket]
    private var bucketWidth: UInt64

    private struct Bucket: Sendable, Equatable {
        var start: UInt64 = 0
        var calls = 0
        var failures = 0
    }

    private static let bucketCount = 10

    public init(settings: BreakerSettings) {
        self.settings = settings
        self.buckets = Array(repeating: Bucket(), count: Self.bucketCount)
        self.bucketWidth = max(1, UInt64(max(1, settings.windowMilliseconds)) / UInt64(Self.bucketCount))
    }

    /// Whether a call may go to the target now.
    public mutating func admit(now: UInt64) -> Admission {
        switch state {
        case .closed:
            return .allowed
        case .open(let until):
            guard now >= until else { return .rejected }
            state = .halfOpen(inFlight: 1, succeeded: 0)
            round += 1
            return .probe
        case .halfOpen(let inFlight, let succeeded):
            guard inFlight + succeeded < settings.probes else { return .rejected }
            state = .halfOpen(inFlight: inFlight + 1, succeeded: succeeded)
            return .probe
        }
    }

    /// Whether a call would be admitted now, without taking a probe slot.
    public func wouldAdmit(now: UInt64) -> Bool {
        switch state {
        case .closed: true
        case .open(let until): now >= until
        case .halfOpen(let inFlight, let succeeded): inFlight + succeeded < settings.probes
        }
    }

    /// Whether the target counts as unwell (open, or half-open and not yet proven).
    public func isOpen(now: UInt64) -> Bool {
        switch state {
        case .closed: false
        case .open(let until): now < until
        case .halfOpen: true
        }
    }

    /// Reports how a call admitted with `admission` (in half-open `round`, nil = the
    /// current one) ended.
    public mutating func record(_ outcome: Outcome, admission: Admission, round: Int? = nil, now: UInt64) {
        if admission == .probe {
            guard (round ?? self.round) == self.round, case .halfOpen(let inFlight, let succeeded) = state else { return }
            switch outcome {
            case .success:
                if succeeded + 1 >= settings.probes {
                    close()
                } else {
                    state = .halfOpen(inFlight: max(0, inFlight - 1), succeeded: succeeded + 1)
                }
            case .failure:
                open(now: now)
            case .abandoned:
                state = .halfOpen(inFlight: max(0, inFlight - 1), succeeded: succeeded)
            }
            return
        }
        guard case .closed = state, outcome != .abandoned else { return }
        let index = slot(now: now)
        buckets[index].calls += 1
        if outcome == .failure {
            buckets[index].failures += 1
            consecutiveFailures += 1
        } else {
            consecutiveFailures = 0
        }
        guard outcome == .failure else { return } // a success never opens the breaker
        if consecutiveFailures >= settings.consecutiveFailures {
            open(now: now)
            return
        }
        let (calls, failures) = windowTotals(now: now)
        if calls >= max(1, settings.minimumCalls), Double(failures) >= settings.failureRatio * Double(calls) {
            open(now: now)
        }
    }

    /// Calls and failures in the window ending `now`.
    public func windowTotals(now: UInt64) -> (calls: Int, failures: Int) {
        let span = bucketWidth * UInt64(Self.bucketCount)
        var calls = 0
        var failures = 0
        for bucket in buckets where bucket.calls > 0 && now &- bucket.start < span && bucket.start <= now {
            calls += bucket.calls
            failures += bucket.failures
        }
        return (calls, failures)
    }

    private mutating func slot(now: UInt64) -> Int {
        let start = now - now % bucketWidth
        let index = Int((now / bucketWidth) % UInt64(Self.bucketCount))
        if buckets[index].start != start || buckets[index].calls == 0 {
            buckets[index] = Bucket(start: start)
        }
        return index
    }

    private mutating func open(now: UInt64) {
        state = .open(untilMilliseconds: now + UInt64(max(1, settings.openForMilliseconds)))
        openings += 1
        consecutiveFailures = 0
        clearWindow()
    }

    private mutating func close() {
        state = .closed
        consecutiveFailures = 0
        clearWindow()
    }

    private mutating func clearWindow() {
        for index in buckets.indices { buckets[index] = Bucket() }
    }
}
