import SluiceWire

/// Access log: one JSON line per call when it is over, with who, where, what it cost and
/// how long it took. Field reference: README, "Access log".
public struct AccessLogStage: CallStage {
    public let name = "access-log"
    public var finishesEveryCall: Bool { true }
    let sink: AccessLogSink

    public init(sink: AccessLogSink) {
        self.sink = sink
    }

    public func enter(_ call: Call) -> StageDecision { .next }

    public func finish(_ call: Call) {
        guard sink.isEnabled else { return }
        sink.write(AccessLogStage.line(for: call, time: call.wallClock.now()))
    }

    /// The JSON line for a finished call.
    public static func line(for call: Call, time: String) -> String {
        var line = JSONLine()
        line.add("time", time)
        line.add("request_id", call.id)
        line.add("trace_id", call.trace?.traceID)
        line.add("method", call.head.method.rawValue)
        line.add("path", String(Endpoint.pathWithoutQuery(call.head.uri).prefix(256)))
        line.add("endpoint", call.endpointLabel)
        line.add("transport", call.transport.rawValue)
        line.add("tenant", call.attribution.tenant)
        line.add("feature", call.attribution.feature)
        line.add("user", call.attribution.user)
        line.add("prompt_version", call.attribution.promptVersion)
        line.add("priority", call.attribution.priority.rawValue)
        line.add("requested_model", call.request?.model.map { String($0.prefix(256)) })
        line.add("route", call.routeName)
        line.add("provider", call.target?.provider.name)
        line.add("model", call.target?.name)
        line.add("upstream_model", call.target?.upstreamModel)
        line.add("stream", call.request?.stream ?? false)
        line.add("status", call.status)
        line.add("upstream_status", call.upstreamStatus)
        line.add("outcome", call.outcome.rawValue)
        line.add("error_code", call.errorCode?.rawValue)
        line.add("upstream_failure", call.upstreamFailure?.rawValue)
        line.add("input_tokens", call.usage?.inputTokens)
        line.add("output_tokens", call.usage?.outputTokens)
        line.add("cached_input_tokens", call.usage?.cachedInputTokens)
        line.addRaw("cost_usd", call.costUSD.map(AccountStage.format))
        // A priced endpoint that answered 2xx but reported no usage: worth an alert, since
        // the call cost money that no counter saw.
        if call.usage == nil, call.endpoint?.isMetered == true, (200..<300).contains(call.status), call.outcome == .completed {
            line.add("usage_missing", true)
        }
        let end = call.endNanos ?? call.startNanos
        line.addRaw("latency_ms", milliseconds(end &- call.startNanos))
        line.addRaw("ttfb_ms", call.firstByteNanos.map { milliseconds($0 &- call.startNanos) })
        line.add("bytes_out", call.bytesOut)
        return line.finished()
    }

    static func milliseconds(_ nanos: UInt64) -> String {
        let micros = nanos / 1_000
        let fraction = micros % 1_000
        return "\(micros / 1_000)." + (fraction < 10 ? "00" : fraction < 100 ? "0" : "") + "\(fraction)"
    }
}

/// Builds one JSON object line; nil values are left out.
struct JSONLine {
    private var text = "{"
    private var empty = true

    mutating func add(_ key: String, _ value: String?) {
        guard let value else { return }
        separator()
        text += "\"\(key)\":" + JSONText.quoted(value)
    }

    mutating func add(_ key: String, _ value: Int?) {
        guard let value else { return }
        addRaw(key, String(value))
    }

    mutating func add(_ key: String, _ value: Bool) {
        addRaw(key, value ? "true" : "false")
    }

    mutating func addRaw(_ key: String, _ value: String?) {
        guard let value else { return }
        separator()
        text += "\"\(key)\":" + value
    }

    private mutating func separator() {
        if !empty { text += "," }
        empty = false
    }

    func finished() -> String { text + "}" }
}
