import Prometheus
import SluiceWire

extension SidecarMetrics {
    /// Exports each target's breaker at scrape time: `sluice_circuit_state{provider,model}`
    /// (0 closed, 1 half-open, 2 open; an open breaker due for a probe counts as half-open)
    /// and `sluice_circuit_openings`.
    func exportHealth(_ health: HealthRegistry) {
        // Every provider's retry counter exists from the start at 0, so a rate() over it
        // works before the first retry.
        for provider in health.providers { _ = retries([("provider", provider.provider)]) }
        onScrape { [registry] in
            let now = monotonicMilliseconds()
            for target in health.targets {
                let labels = [("provider", target.provider), ("model", target.model)]
                let view = target.snapshot(now: now)
                let dueForProbe = view.breaker.wouldAdmit(now: now) && view.breaker.state != .closed
                let state = dueForProbe ? CircuitBreaker.State.halfOpen(inFlight: 0, succeeded: 0).gaugeValue : view.breaker.state.gaugeValue
                registry.makeGauge(descriptor: Self.name("circuit_state", unit: "", help: "Circuit breaker per target: 0 closed, 1 half-open, 2 open."), labels: labels)
                    .set(to: Double(state))
                registry.makeGauge(descriptor: Self.name("circuit_openings", unit: "", help: "Times the target's breaker opened since the sidecar started."), labels: labels)
                    .set(to: Double(view.breaker.openings))
            }
        }
    }

    func retries(_ labels: [(String, String)]) -> Counter {
        registry.makeCounter(descriptor: Self.name("retries", unit: "total", help: "Upstream attempts after a call's first (retries and failovers), by the provider they went to."), labels: labels)
    }

    func upstreamAttempts(_ labels: [(String, String)]) -> Counter {
        registry.makeCounter(descriptor: Self.name("upstream_attempts", unit: "total", help: "Upstream attempts by provider, model and outcome (ok, client_error, error_status, connect, timeout, closed, protocol, broken_stream, cancelled)."), labels: labels)
    }
}

/// `GET /debug/upstreams` on the admin port: every target's breaker, recent p95 and
/// counts, and every provider's retry budget, as JSON.
enum UpstreamsReport {
    static func render(_ health: HealthRegistry, now: UInt64) -> String {
        let targets = health.targets.map { target -> String in
            let view = target.snapshot(now: now)
            let window = view.breaker.windowTotals(now: now)
            var state = view.breaker.state.name
            var openForMs = "null"
            if case .open(let until) = view.breaker.state {
                if now >= until { state = "half_open" } else { openForMs = String(until - now) }
            }
            let p95 = view.p95.map(String.init) ?? "null"
            return "{\"provider\":\(JSONText.quoted(target.provider)),\"model\":\(JSONText.quoted(target.model)),\"state\":\"\(state)\",\"open_remaining_ms\":\(openForMs),\"consecutive_failures\":\(view.breaker.consecutiveFailures),\"window_calls\":\(window.calls),\"window_failures\":\(window.failures),\"openings\":\(view.breaker.openings),\"attempts\":\(view.attempts),\"failures\":\(view.failures),\"latency_p95_ms\":\(p95)}"
        }
        let providers = health.providers.map { provider -> String in
            let totals = provider.totals(now: now)
            return "{\"provider\":\(JSONText.quoted(provider.provider)),\"recent_calls\":\(totals.calls),\"recent_retries\":\(totals.retries)}"
        }
        return "{\"targets\":[" + targets.joined(separator: ",") + "],\"retry_budgets\":[" + providers.joined(separator: ",") + "]}\n"
    }
}
