import NIOConcurrencyHelpers
import Prometheus

extension SidecarMetrics {
    /// Exports the client limits' state, read at scrape time: open client connections,
    /// bytes held against `--max-buffered-bytes`, heap trims, and access-log lines dropped.
    func exportLimits(connections: OpenConnections, memory: MemoryBudget, reclaimer: MemoryReclaimer, accessLog: AccessLogSink) {
        let open = registry.makeGauge(descriptor: Self.name("connections_open", unit: "", help: "Client connections open on the egress listener."))
        let refused = registry.makeCounter(descriptor: Self.name("connections_refused", unit: "total", help: "Client connections closed at once because --max-connections was reached."))
        let buffered = registry.makeGauge(descriptor: Self.name("buffered_bytes", unit: "", help: "Bytes of request bodies and held answers in memory (bounded by --max-buffered-bytes)."))
        let peak = registry.makeGauge(descriptor: Self.name("buffered_bytes_peak", unit: "", help: "Most bytes held at once since the last scrape."))
        let trims = registry.makeCounter(descriptor: Self.name("memory_trims", unit: "total", help: "Times freed heap was returned to the system after a burst."))
        let dropped = registry.makeCounter(descriptor: Self.name("access_log_dropped_lines", unit: "total", help: "Access-log lines dropped because the writer could not keep up."))
        let reported = NIOLockedValueBox((refused: 0, trims: 0, dropped: 0))
        onScrape {
            open.set(to: Double(connections.current))
            buffered.set(to: Double(memory.current))
            peak.set(to: Double(memory.resetPeak()))
            let now = (refused: connections.rejected, trims: reclaimer.trims, dropped: accessLog.droppedLines)
            let last = reported.withLockedValue { value -> (refused: Int, trims: Int, dropped: Int) in
                defer { value = now }
                return value
            }
            if now.refused > last.refused { refused.increment(by: Int64(now.refused - last.refused)) }
            if now.trims > last.trims { trims.increment(by: Int64(now.trims - last.trims)) }
            if now.dropped > last.dropped { dropped.increment(by: Int64(now.dropped - last.dropped)) }
        }
    }
}
