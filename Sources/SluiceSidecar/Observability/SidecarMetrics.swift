import NIOConcurrencyHelpers
import Prometheus

/// The sidecar's Prometheus metrics, in one registry served at `/metrics`.
///
/// Families are made through swift-prometheus' registry with help text (promtool's lint
/// wants HELP on every family); libraries that speak swift-metrics can share the registry
/// through `PrometheusMetricsFactory(registry:)`. Labels are bounded: policy names
/// (route, provider, model), fixed sets (endpoint, status class, token type), and tenant
/// and feature capped by ``LabelLimiter``. Never user ids, request ids or raw paths.
public final class SidecarMetrics: Sendable {
    public let registry: PrometheusCollectorRegistry
    let tenants: LabelLimiter
    let features: LabelLimiter
    let inFlight: Gauge
    let policyInfo: NIOLockedValueBox<Gauge?>
    let policyLoadedAt: Gauge
    let policyAge: Gauge
    private let loadedAtSeconds = NIOLockedValueBox<Double?>(nil)
    /// Readings taken at scrape time (gauges of runtime state).
    private let scrapeHooks = NIOLockedValueBox<[@Sendable () -> Void]>([])

    /// Buckets for LLM calls: tens of milliseconds to minutes.
    public static let latencyBuckets: [Duration] = [
        .milliseconds(10), .milliseconds(25), .milliseconds(50), .milliseconds(100), .milliseconds(250),
        .milliseconds(500), .seconds(1), .milliseconds(2500), .seconds(5), .seconds(10), .seconds(20),
        .seconds(30), .seconds(60), .seconds(120), .seconds(300),
    ]

    public init(registry: PrometheusCollectorRegistry = PrometheusCollectorRegistry(), maxTenants: Int = 100, maxFeatures: Int = 100) {
        self.registry = registry
        self.tenants = LabelLimiter(limit: maxTenants)
        self.features = LabelLimiter(limit: maxFeatures)
        self.inFlight = registry.makeGauge(descriptor: Self.name("requests_in_flight", unit: "", help: "Calls being served right now."))
        self.policyInfo = NIOLockedValueBox(nil)
        self.policyLoadedAt = registry.makeGauge(descriptor: Self.name("policy_loaded_timestamp", unit: "seconds", help: "Unix time the policy in force was loaded."))
        self.policyAge = registry.makeGauge(descriptor: Self.name("policy_age", unit: "seconds", help: "Seconds since the policy in force was loaded (set at scrape time)."))
    }

    /// Records the policy in force: `sluice_policy_info{version}` 1 and its load time.
    public func policyLoaded(version: String, at unixSeconds: Double) {
        let gauge = registry.makeGauge(descriptor: Self.name("policy_info", unit: "", help: "The policy version in force (value 1)."), labels: [("version", version)])
        gauge.set(to: 1.0)
        policyInfo.withLockedValue { old in
            if let old, old !== gauge { registry.unregisterGauge(old) }
            old = gauge
        }
        policyLoadedAt.set(to: unixSeconds)
        loadedAtSeconds.withLockedValue { $0 = unixSeconds }
        _ = policyReloadErrors()
    }

    /// `sluice_policy_reload_errors_total`: policy edits rejected (the policy in force stayed).
    func policyReloadErrors() -> Counter {
        registry.makeCounter(descriptor: Self.name("policy_reload_errors", unit: "total", help: "Policy edits rejected at reload; the policy in force stayed."))
    }

    // MARK: Families (registered once each; the registry dedupes by name and labels)

    func requests(_ labels: [(String, String)]) -> Counter {
        registry.makeCounter(descriptor: Self.name("requests", unit: "total", help: "Calls served, by route, provider, model, endpoint, status class and cache result."), labels: labels)
    }

    func requestDuration(_ labels: [(String, String)]) -> DurationHistogram {
        registry.makeDurationHistogram(descriptor: Self.name("request_duration", unit: "seconds", help: "Time from request received to response end."), labels: labels, buckets: Self.latencyBuckets)
    }

    func upstreamDuration(_ labels: [(String, String)]) -> DurationHistogram {
        registry.makeDurationHistogram(descriptor: Self.name("upstream_duration", unit: "seconds", help: "Time from the upstream request sent to the upstream response end."), labels: labels, buckets: Self.latencyBuckets)
    }

    func timeToFirstByte(_ labels: [(String, String)]) -> DurationHistogram {
        registry.makeDurationHistogram(descriptor: Self.name("time_to_first_byte", unit: "seconds", help: "Time from request received to the upstream's first response byte."), labels: labels, buckets: Self.latencyBuckets)
    }

    func tokens(_ labels: [(String, String)]) -> Counter {
        registry.makeCounter(descriptor: Self.name("tokens", unit: "total", help: "Tokens reported by providers, by type (input, output, cached_input)."), labels: labels)
    }

    func cost(_ labels: [(String, String)]) -> Counter {
        registry.makeCounter(descriptor: Self.name("cost_usd", unit: "total", help: "Spend in US dollars from the policy's price table."), labels: labels)
    }

    func upstreamErrors(_ labels: [(String, String)]) -> Counter {
        registry.makeCounter(descriptor: Self.name("upstream_errors", unit: "total", help: "Upstream failures by kind (connect, timeout, closed, protocol, broken_stream)."), labels: labels)
    }

    /// Runs `hook` before every scrape (to set gauges from runtime state).
    func onScrape(_ hook: @escaping @Sendable () -> Void) {
        scrapeHooks.withLockedValue { $0.append(hook) }
    }

    static func name(_ metric: String, unit: String, help: String) -> MetricNameDescriptor {
        MetricNameDescriptor(namespace: "sluice", metricName: metric, unitName: unit, helpText: help)
    }

    /// The Prometheus text exposition of every metric.
    public func exposition(now unixSeconds: Double) -> String {
        for hook in scrapeHooks.withLockedValue({ $0 }) { hook() }
        if let loaded = loadedAtSeconds.withLockedValue({ $0 }) {
            policyAge.set(to: max(0, unixSeconds - loaded))
        }
        return registry.emitToString()
    }
}

/// Caps the distinct values of a label that callers choose (tenant, feature): the first
/// `limit` values pass, later ones become `other`, so a misbehaving app cannot blow up
/// the metric count.
final class LabelLimiter: Sendable {
    private let seen: NIOLockedValueBox<Set<String>>
    let limit: Int

    init(limit: Int) {
        self.limit = limit
        self.seen = NIOLockedValueBox([])
    }

    func admit(_ value: String) -> String {
        seen.withLockedValue { set in
            if set.contains(value) { return value }
            guard set.count < limit else { return "other" }
            set.insert(value)
            return value
        }
    }
}
