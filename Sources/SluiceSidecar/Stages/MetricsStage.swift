import NIOCore
import Prometheus
import SluiceWire

/// Metrics: counts calls, tokens and spend, and times calls, upstream answers and first
/// bytes, into ``SidecarMetrics``. Metric handles are cached per event loop, so the hot
/// path takes no registry lock.
public struct MetricsStage: CallStage {
    public let name = "metrics"
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
        let provider = call.target?.provider.name ?? "none"
        let model = call.target?.name ?? "none"
        let route = call.routeName ?? "none"
        let endpoint = call.endpointLabel
        let stream = call.request?.stream == true ? "true" : "false"
        let end = call.endNanos ?? call.startNanos

        handles.counter(.requests, [
            ("route", route), ("provider", provider), ("model", model), ("endpoint", endpoint),
            ("status_class", MetricsStage.statusClass(call.status)), ("cache", "bypass"),
        ]).increment()
        handles.histogram(.requestDuration, [("route", route), ("provider", provider), ("model", model), ("endpoint", endpoint), ("stream", stream)])
            .recordNanoseconds(Int64(end &- call.startNanos))
        if let first = call.firstByteNanos {
            handles.histogram(.timeToFirstByte, [("provider", provider), ("model", model), ("stream", stream)])
                .recordNanoseconds(Int64(first &- call.startNanos))
        }
        if let upstreamStart = call.upstreamStartNanos, call.upstreamFailure == nil, call.outcome == .completed {
            handles.histogram(.upstreamDuration, [("provider", provider), ("model", model)])
                .recordNanoseconds(Int64(end &- upstreamStart))
        }
        if let failure = call.upstreamFailure {
            handles.counter(.upstreamErrors, [("provider", provider), ("kind", failure)]).increment()
        }
        guard let usage = call.usage else { return }
        let tenant = handles.admit(call.attribution.tenant, through: metrics.tenants)
        let feature = handles.admit(call.attribution.feature, through: metrics.features)
        for (type, count) in [("input", usage.inputTokens), ("output", usage.outputTokens), ("cached_input", usage.cachedInputTokens)] where count > 0 {
            handles.counter(.tokens, [("provider", provider), ("model", model), ("feature", feature), ("type", type)])
                .increment(by: Int64(count))
        }
        if let cost = call.costUSD, cost > 0 {
            handles.counter(.cost, [("provider", provider), ("model", model), ("tenant", tenant), ("feature", feature)])
                .increment(by: cost)
        }
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

/// One event loop's cache of metric handles and admitted label values.
final class MetricHandles {
    enum CounterFamily: UInt8 { case requests, tokens, cost, upstreamErrors }
    enum HistogramFamily: UInt8 { case requestDuration, timeToFirstByte, upstreamDuration }

    private let metrics: SidecarMetrics
    private var counters: [String: Counter] = [:]
    private var histograms: [String: DurationHistogram] = [:]
    private var admitted: [ObjectIdentifier: [String: String]] = [:]

    init(metrics: SidecarMetrics) {
        self.metrics = metrics
    }

    func counter(_ family: CounterFamily, _ labels: [(String, String)]) -> Counter {
        let key = MetricHandles.key(family.rawValue, labels)
        if let existing = counters[key] { return existing }
        let created: Counter
        switch family {
        case .requests: created = metrics.requests(labels)
        case .tokens: created = metrics.tokens(labels)
        case .cost: created = metrics.cost(labels)
        case .upstreamErrors: created = metrics.upstreamErrors(labels)
        }
        counters[key] = created
        return created
    }

    func histogram(_ family: HistogramFamily, _ labels: [(String, String)]) -> DurationHistogram {
        let key = MetricHandles.key(family.rawValue, labels)
        if let existing = histograms[key] { return existing }
        let created: DurationHistogram
        switch family {
        case .requestDuration: created = metrics.requestDuration(labels)
        case .timeToFirstByte: created = metrics.timeToFirstByte(labels)
        case .upstreamDuration: created = metrics.upstreamDuration(labels)
        }
        histograms[key] = created
        return created
    }

    func admit(_ value: String, through limiter: LabelLimiter) -> String {
        let id = ObjectIdentifier(limiter)
        if let known = admitted[id]?[value] { return known }
        let result = limiter.admit(value)
        admitted[id, default: [:]][value] = result
        return result
    }

    private static func key(_ family: UInt8, _ labels: [(String, String)]) -> String {
        var key = String(family)
        for (_, value) in labels {
            key += "\u{1}"
            key += value
        }
        return key
    }
}
