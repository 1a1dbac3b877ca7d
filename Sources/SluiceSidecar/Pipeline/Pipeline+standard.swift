/// The request path of the sidecar, in order. This list is the pipeline.
///
/// 1. ``ParseStage``     endpoint, JSON body, model, stream
/// 2. ``IdentifyStage``  tenant, feature, user, prompt version, priority
/// 3. ``ModelListStage`` answers `GET /v1/models` locally
/// 4. ``RouteStage``     route → weighted target; model rewrite; stream usage option
/// 5. ``AccountStage``   token usage → cost; `x-sluice-cost-usd`
/// 6. ``AccessLogStage`` one JSON line per call
///
/// then the upstream call (``EgressHandler`` with the loop's ``UpstreamPool``), which
/// sends the provider's credential and relays the answer.
///
/// Stages still to come slot in by name: admission (rate limits, lanes, budgets) after
/// route; cache and coalescing after admission; metrics and spend beside account.
extension Pipeline {
    /// The standard pipeline for a sidecar.
    public static func standard(defaults: Attribution, accessLog: AccessLogSink) -> Pipeline {
        Pipeline(stages: [
            ParseStage(),
            IdentifyStage(defaults: defaults),
            ModelListStage(),
            RouteStage(),
            AccountStage(),
            AccessLogStage(sink: accessLog),
        ])
    }
}
