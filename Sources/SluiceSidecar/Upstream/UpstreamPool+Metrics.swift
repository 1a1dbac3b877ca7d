import Prometheus

/// The pool's connection metrics: `sluice_upstream_connections_opened_total` and
/// `sluice_upstream_connections_open`, shared by every loop's pool.
struct UpstreamPoolMetrics: Sendable {
    let opened: Counter
    let open: Gauge

    func connectionOpened() {
        opened.increment()
        open.increment()
    }

    func connectionClosed() {
        open.decrement()
    }
}

extension SidecarMetrics {
    /// The upstream pool's families; pass the result to every loop's ``UpstreamPool``.
    func upstreamPoolMetrics() -> UpstreamPoolMetrics {
        UpstreamPoolMetrics(
            opened: registry.makeCounter(descriptor: Self.name("upstream_connections_opened", unit: "total", help: "Upstream connections opened (successful connects).")),
            open: registry.makeGauge(descriptor: Self.name("upstream_connections_open", unit: "", help: "Upstream connections open right now (idle or in use)."))
        )
    }
}
