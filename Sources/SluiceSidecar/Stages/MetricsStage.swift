import NIOCore
import Prometheus
import SluiceWire

/// Metrics: counts calls, tokens and spend, and times calls, upstream answers and first
/// bytes, into ``SidecarMetrics``. Handles are cached per event loop by label values, so
/// the hot path takes no registry lock and builds no label arrays once warm.
public struct MetricsStage: CallStage {
    public let name = "metrics"
    public var finishesEveryCall: Bool { true }
    let metrics: SidecarMetrics

    public init(metrics: SidecarMetrics) {
        self.metrics = metrics
    }

    public func enter(_ call: Call) -> StageDecision {
        metrics.inFlight.increment()
        call.countedInFlight = true
        return .next
    }

    public func finish(_ call: Call) {
        if call.countedInFlight {
            metrics.inFlight.decrement()
            call.countedInFlight = false
        }
        let handles = call.loopLocal.value(for: MetricHandles.self) { MetricHandles(metrics: metrics) }
        let shape = CallShape(
            route: call.routeName ?? "none",
            provider: call.target?.provider.name ?? "none",
            model: call.target?.name ?? "none",
            endpoint: call.endpointLabel,
            statusClass: MetricsStage.statusClass(call.status),
            stream: call.request?.stream == true
        )
        let calls = handles.calls(shape)
        let end = call.endNanos ?? call.startNanos
        calls.requests.increment()
        calls.duration.recordNanoseconds(Int64(end &- call.startNanos))
        if let first = call.firstByteNanos {
            handles.timeToFirstByte(UpstreamShape(provider: shape.provider, model: shape.model, stream: shape.stream))
                .recordNanoseconds(Int64(first &- call.startNanos))
        }
        if let upstreamStart = call.upstreamStartNanos, call.upstreamFailure == nil, call.outcome == .completed {
            handles.upstreamDuration(UpstreamShape(provider: shape.provider, model: shape.model, stream: false))
                .recordNanoseconds(Int64(end &- upstreamStart))
        }
        if let failure = call.upstreamFailure {
            handles.upstreamErrors(provider: shape.provider, kind: failure.rawValue).increment()
        }
        for (index, attempt) in call.attempts.enumerated() {
            let outcome = attempt.outcome ?? (attempt.failure.map(AttemptOutcome.init) ?? .cancelled)
            handles.upstreamAttempts(attempt.target, outcome: outcome).increment()
            if index > 0 { handles.retries(provider: attempt.target.provider.name).increment() }
        }
        guard call.usage != nil || call.attempts.contains(where: { $0.usage != nil }) else { return }
        let tenant = handles.admit(call.attribution.tenant, through: metrics.tenants)
        let feature = handles.admit(call.attribution.feature, through: metrics.features)
        if let usage = call.usage {
            let cost = call.target.map { AccountStage.cost(of: usage, at: $0.prices) } ?? 0
            count(usage, cost: cost, in: SpendShape(provider: shape.provider, model: shape.model, tenant: tenant, feature: feature), handles: handles)
        }
        // Abandoned attempts' tokens, under the model that reported them.
        for attempt in call.attempts {
            guard let usage = attempt.usage else { continue }
            let cost = AccountStage.cost(of: usage, at: attempt.target.prices)
            count(usage, cost: cost, in: SpendShape(provider: attempt.target.provider.name, model: attempt.target.name, tenant: tenant, feature: feature), handles: handles)
        }
    }

    private func count(_ usage: TokenUsage, cost: Double, in spendShape: SpendShape, handles: MetricHandles) {
        let spend = handles.spend(spendShape)
        if usage.inputTokens > 0 { spend.input.increment(by: Int64(usage.inputTokens)) }
        if usage.outputTokens > 0 { spend.output.increment(by: Int64(usage.outputTokens)) }
        if usage.cachedInputTokens > 0 {
            handles.cachedInputTokens(spendShape).increment(by: Int64(usage.cachedInputTokens))
        }
        if cost > 0 { spend.cost.increment(by: cost) }
    }

    static func statusClass(_ status: Int) -> String {
        switch status {
        case 100..<200: return "1xx"
        case 200..<300: return "2xx"
        case 300..<400: return "3xx"
        case 400..<500: return "4xx"
        case 500..<600: return "5xx"
        default: return "other"
        }
    }
}

/// The label values of a call's request metrics.
struct CallShape: Hashable {
    var route: String
    var provider: String
    var model: String
    var endpoint: String
    var statusClass: String
    var stream: Bool
}

/// The label values of upstream timings (series appear only once a call went upstream).
struct UpstreamShape: Hashable {
    var provider: String
    var model: String
    var stream: Bool
}

/// The label values of a call's token and spend metrics.
struct SpendShape: Hashable {
    var provider: String
    var model: String
    var tenant: String
    var feature: String
}

/// The label values of `sluice_upstream_attempts_total`.
struct AttemptShape: Hashable {
    /// The target's health object stands for its provider and model (one per target).
    var target: ObjectIdentifier
    var outcome: AttemptOutcome
}

/// One event loop's cache of metric handles and admitted label values.
final class MetricHandles {
    struct CallHandles {
        var requests: Counter
        var duration: DurationHistogram
    }

    struct SpendHandles {
        var input: Counter
        var output: Counter
        var cost: Counter
    }

    private let metrics: SidecarMetrics
    private var callHandles: [CallShape: CallHandles] = [:]
    private var spendHandles: [SpendShape: SpendHandles] = [:]
    private var cachedInputHandles: [SpendShape: Counter] = [:]
    private var firstByteHandles: [UpstreamShape: DurationHistogram] = [:]
    private var upstreamHandles: [UpstreamShape: DurationHistogram] = [:]
    private var errorHandles: [String: Counter] = [:]
    private var attemptHandles: [AttemptShape: Counter] = [:]
    private var retryHandles: [String: Counter] = [:]
    private var admitted: [ObjectIdentifier: [String: String]] = [:]

    init(metrics: SidecarMetrics) {
        self.metrics = metrics
    }

    func calls(_ shape: CallShape) -> CallHandles {
        if let existing = callHandles[shape] { return existing }
        let stream = shape.stream ? "true" : "false"
        let handles = CallHandles(
            requests: metrics.requests([
                ("route", shape.route), ("provider", shape.provider), ("model", shape.model),
                ("endpoint", shape.endpoint), ("status_class", shape.statusClass), ("cache", "bypass"),
            ]),
            duration: metrics.requestDuration([
                ("route", shape.route), ("provider", shape.provider), ("model", shape.model),
                ("endpoint", shape.endpoint), ("stream", stream),
            ])
        )
        callHandles[shape] = handles
        return handles
    }

    func spend(_ shape: SpendShape) -> SpendHandles {
        if let existing = spendHandles[shape] { return existing }
        func tokens(_ type: String) -> Counter {
            metrics.tokens([("provider", shape.provider), ("model", shape.model), ("feature", shape.feature), ("type", type)])
        }
        let handles = SpendHandles(
            input: tokens("input"), output: tokens("output"),
            cost: metrics.cost([("provider", shape.provider), ("model", shape.model), ("tenant", shape.tenant), ("feature", shape.feature)])
        )
        spendHandles[shape] = handles
        return handles
    }

    func cachedInputTokens(_ shape: SpendShape) -> Counter {
        if let existing = cachedInputHandles[shape] { return existing }
        let counter = metrics.tokens([("provider", shape.provider), ("model", shape.model), ("feature", shape.feature), ("type", "cached_input")])
        cachedInputHandles[shape] = counter
        return counter
    }

    func timeToFirstByte(_ shape: UpstreamShape) -> DurationHistogram {
        if let existing = firstByteHandles[shape] { return existing }
        let histogram = metrics.timeToFirstByte([("provider", shape.provider), ("model", shape.model), ("stream", shape.stream ? "true" : "false")])
        firstByteHandles[shape] = histogram
        return histogram
    }

    func upstreamDuration(_ shape: UpstreamShape) -> DurationHistogram {
        if let existing = upstreamHandles[shape] { return existing }
        let histogram = metrics.upstreamDuration([("provider", shape.provider), ("model", shape.model)])
        upstreamHandles[shape] = histogram
        return histogram
    }

    func upstreamAttempts(_ target: ResolvedModel, outcome: AttemptOutcome) -> Counter {
        let key = AttemptShape(target: ObjectIdentifier(target.health), outcome: outcome)
        if let existing = attemptHandles[key] { return existing }
        let counter = metrics.upstreamAttempts([("provider", target.provider.name), ("model", target.name), ("outcome", outcome.rawValue)])
        attemptHandles[key] = counter
        return counter
    }

    func retries(provider: String) -> Counter {
        if let existing = retryHandles[provider] { return existing }
        let counter = metrics.retries([("provider", provider)])
        retryHandles[provider] = counter
        return counter
    }

    func upstreamErrors(provider: String, kind: String) -> Counter {
        let key = provider + "\u{1}" + kind
        if let existing = errorHandles[key] { return existing }
        let counter = metrics.upstreamErrors([("provider", provider), ("kind", kind)])
        errorHandles[key] = counter
        return counter
    }

    func admit(_ value: String, through limiter: LabelLimiter) -> String {
        let id = ObjectIdentifier(limiter)
        if let known = admitted[id]?[value] { return known }
        let result = limiter.admit(value)
        admitted[id, default: [:]][value] = result
        return result
    }
}
