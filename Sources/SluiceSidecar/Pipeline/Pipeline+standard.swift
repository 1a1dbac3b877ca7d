/// The request path of the sidecar, in order. This list is the pipeline.
///
/// 1. ``TraceStage``     W3C traceparent in, new span, trace id out
/// 2. ``ParseStage``     endpoint, JSON body, model, stream
/// 3. ``IdentifyStage``  tenant, feature, user, prompt version, priority
/// 4. ``ModelListStage`` answers `GET /v1/models` locally
/// 5. ``RouteStage``     route → weighted target (skipping targets whose breaker is open)
/// 6. ``ResilienceStage`` deadline, degradation; around the call: the attempt loop —
///                       retries under a budget, breakers, failover down the fallbacks
///                       (across vendors, translated), last resorts (`fallback: static`)
/// 7. ``AccountStage``   token usage → cost; `x-sluice-cost-usd`
/// 8. ``MetricsStage``   Prometheus counters and histograms; requests in flight; attempts
/// 9. ``AccessLogStage`` one JSON line per call, every attempt in it
///
/// `enter` hooks run top to bottom until one answers; `decorate` and `finish` hooks run
/// top to bottom for every stage, so account prices a call before metrics and the access
/// log read the cost.
///
/// then the terminal step, ``UpstreamCall``: one attempt (recorded in ``Call/attempts``)
/// built by ``UpstreamRequest`` for the call's target (translated when the target's vendor
/// speaks the other API) and run by an ``UpstreamExchange`` over the loop's ``UpstreamPool``. Its ``ResponseSource`` — or a local reply's — feeds
/// the ``EgressHandler``, whose ``CallLifecycle`` decides how the answer is written.
/// Stages that set `wrapsCall` get an around-hook over that step (retry, failover, cache).
///
/// Stages still to come slot in by name: admission (rate limits, lanes, budgets) after
/// route; cache and coalescing after admission; metrics and spend beside account.
extension Pipeline {
    /// The standard pipeline for a sidecar.
    public static func standard(defaults: Attribution, metrics: SidecarMetrics, accessLog: AccessLogSink, upstream: UpstreamCall = UpstreamCall()) -> Pipeline {
        Pipeline(stages: [
            TraceStage(),
            ParseStage(),
            IdentifyStage(defaults: defaults),
            ModelListStage(),
            RouteStage(),
            ResilienceStage(),
            AccountStage(),
            MetricsStage(metrics: metrics),
            AccessLogStage(sink: accessLog),
        ], terminal: upstream)
    }
}
