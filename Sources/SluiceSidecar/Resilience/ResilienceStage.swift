import NIOCore
import NIOHTTP1
import SluicePolicy
import SluiceWire

/// Resilience: sets the call's deadline (the route's or provider's `total`, shortened by
/// a client's `x-sluice-timeout-ms`), applies the route's degradation rule, then runs the
/// upstream call as an ``AttemptLoop`` over the chosen target and the route's fallbacks,
/// with ``lastResorts`` when all of them fail. Adds `x-sluice-attempts` (upstream attempts
/// made), `x-sluice-degraded` and, from a last resort, `x-sluice-fallback`.
public struct ResilienceStage: CallStage {
    public let name = "resilience"
    /// Answers of last resort, in order (the cache issue puts stale-cache first).
    public let lastResorts: [any LastResort]
    /// The most a client's `x-sluice-timeout-ms` may ask for is the configured total;
    /// with none configured, this.
    static let maxClientTimeoutMilliseconds: UInt64 = 3_600_000

    /// A call without a route: one attempt per target (a stale connection's re-send aside).
    static let noRetries = RetrySettings()

    public init(lastResorts: [any LastResort] = [StaticFallback()]) {
        self.lastResorts = lastResorts
    }

    public var wrapsCall: Bool { true }

    public func enter(_ call: Call) -> StageDecision {
        guard let target = call.target else { return .next }
        var total = call.route?.timeouts.total ?? target.provider.timeouts.total
        if let header = call.head.headers.first(name: "x-sluice-timeout-ms") {
            guard let asked = UInt64(header.trimmingCharacters(in: .whitespaces)), asked > 0, asked <= Self.maxClientTimeoutMilliseconds else {
                return .reply(.error(.invalidRequest, "x-sluice-timeout-ms must be a whole number of milliseconds between 1 and \(Self.maxClientTimeoutMilliseconds)", family: call.family))
            }
            total = min(total.map(UInt64.init) ?? asked, asked).clamped()
        }
        if let total {
            call.deadlineNanos = call.startNanos &+ UInt64(total) &* 1_000_000
        }
        if let route = call.route, let degrade = route.degrade, degrade.to.name != target.name {
            let now = monotonicMilliseconds()
            if degrade.rule.breakerOpen, target.health.isOpen(now: now) {
                call.degradedReason = "breaker_open"
            } else if let bound = degrade.rule.latencyP95OverMilliseconds, let p95 = target.health.latencyP95(now: now), p95 > UInt64(bound) {
                call.degradedReason = "latency_p95"
            }
            if call.degradedReason != nil { call.target = degrade.to }
        }
        return .next
    }

    public func around(_ call: Call, next: CallNext) -> any ResponseSource {
        guard let target = call.target, let loop = call.upstreamPool?.eventLoop else { return next(call) }
        let route = call.route
        var fallbacks = route?.fallbacks ?? []
        if fallbacks.contains(where: { $0.name == target.name }) { fallbacks.removeAll { $0.name == target.name } }
        return AttemptLoop(call: call, next: next, primary: target, fallbacks: fallbacks, retry: route?.retry ?? Self.noRetries, lastResorts: lastResorts, eventLoop: loop)
    }

    public func decorate(_ call: Call, headers: inout HTTPHeaders, trailers: Bool) {
        guard !trailers else { return }
        if !call.attempts.isEmpty { headers.add(name: "x-sluice-attempts", value: String(call.attempts.count)) }
        if let reason = call.degradedReason { headers.add(name: "x-sluice-degraded", value: reason) }
    }
}

private extension UInt64 {
    /// As a millisecond count for ``Timeouts`` fields.
    func clamped() -> Int { Int(clamping: self) }
}
