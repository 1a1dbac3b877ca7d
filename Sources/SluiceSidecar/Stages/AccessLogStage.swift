import SluiceWire

/// Access log: one JSON line per call when it is over, with who, where, what it cost and
/// how long it took. Field reference: README, "Access log".
///
/// The line is built as bytes in a buffer each event loop reuses, so a call's log line
/// costs no allocation once the buffer has grown to a line's size.
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
        let scratch = call.loopLocal.value(for: LineScratch.self) { LineScratch() }
        var line = JSONLine(reusing: scratch.take())
        call.wallClock.appendNow { line.addTime($0) }
        AccessLogStage.fields(of: call, into: &line)
        let bytes = line.finished()
        bytes.withUnsafeBufferPointer { sink.write(bytes: UnsafeRawBufferPointer($0)) }
        scratch.give(back: bytes)
    }

    /// The JSON line for a finished call (without the newline).
    public static func line(for call: Call, time: String) -> String {
        var line = JSONLine(reusing: [])
        line.add("time", time)
        fields(of: call, into: &line)
        return String(decoding: line.finished(), as: UTF8.self)
    }

    static func fields(of call: Call, into line: inout JSONLine) {
        line.add("request_id", call.id)
        line.add("trace_id", call.trace?.traceID)
        line.add("method", call.head.method.rawValue)
        line.add("path", Endpoint.pathWithoutQuery(call.head.uri).prefix(256))
        line.add("endpoint", call.endpointLabel)
        line.add("transport", call.transport.rawValue)
        line.add("tenant", call.attribution.tenant)
        line.add("feature", call.attribution.feature)
        line.add("user", call.attribution.user)
        line.add("prompt_version", call.attribution.promptVersion)
        line.add("priority", call.attribution.priority.rawValue)
        if let model = call.request?.model { line.add("requested_model", model.prefix(256)) }
        line.add("route", call.routeName)
        line.add("provider", call.target?.provider.name)
        line.add("model", call.target?.name)
        line.add("upstream_model", call.target?.upstreamModel)
        line.add("stream", call.request?.stream ?? false)
        line.add("status", call.status)
        line.add("upstream_status", call.upstreamStatus)
        if !call.attempts.isEmpty { line.addAttempts(call.attempts, end: call.endNanos ?? call.startNanos) }
        line.add("outcome", call.outcome.rawValue)
        line.add("degraded", call.degradedReason)
        line.add("fallback", call.fallback)
        line.add("error_code", call.errorCode?.rawValue)
        line.add("upstream_failure", call.upstreamFailure?.rawValue)
        // Billed tokens: the answer's plus what abandoned attempts reported.
        let usage = call.billedUsage
        line.add("input_tokens", usage?.inputTokens)
        line.add("output_tokens", usage?.outputTokens)
        line.add("cached_input_tokens", usage?.cachedInputTokens)
        if let cost = call.costUSD { line.addRaw("cost_usd", AccountStage.format(cost)) }
        // A priced endpoint that answered 2xx but reported no usage: worth an alert, since
        // the call cost money that no counter saw.
        if call.usage == nil, call.endpoint?.isMetered == true, (200..<300).contains(call.status), call.outcome == .completed {
            line.add("usage_missing", true)
        }
        let end = call.endNanos ?? call.startNanos
        line.addMilliseconds("latency_ms", end &- call.startNanos)
        if let first = call.firstByteNanos { line.addMilliseconds("ttfb_ms", first &- call.startNanos) }
        line.add("bytes_out", call.bytesOut)
    }

    static func milliseconds(_ nanos: UInt64) -> String {
        var line = JSONLine(reusing: [])
        line.appendMilliseconds(nanos)
        return String(decoding: line.finished().dropFirst().dropLast(), as: UTF8.self)
    }
}

/// The per-loop buffer access-log lines are built in.
final class LineScratch {
    private var bytes: [UInt8] = []

    func take() -> [UInt8] {
        defer { bytes = [] }
        return bytes
    }

    func give(back buffer: [UInt8]) {
        // Keep the capacity, unless one odd line made it huge.
        if buffer.capacity <= 64 * 1024 { bytes = buffer }
    }
}

/// Builds one JSON object line as UTF-8 bytes; nil values are left out.
struct JSONLine {
    private var bytes: [UInt8]
    private var empty = true

    init(reusing buffer: [UInt8]) {
        bytes = buffer
        bytes.removeAll(keepingCapacity: true)
        bytes.reserveCapacity(768)
        bytes.append(UInt8(ascii: "{"))
    }

    mutating func add<S: StringProtocol>(_ key: StaticString, _ value: S?) {
        guard let value else { return }
        self.key(key)
        appendQuoted(value)
    }

    mutating func add(_ key: StaticString, _ value: Int?) {
        guard let value else { return }
        self.key(key)
        appendDecimal(value)
    }

    mutating func add(_ key: StaticString, _ value: Bool) {
        self.key(key)
        value ? append("true") : append("false")
    }

    mutating func addRaw(_ key: StaticString, _ value: String) {
        self.key(key)
        bytes.append(contentsOf: value.utf8)
    }

    /// `"attempts":[{"target":"provider/model","outcome":…,"status":…,"ms":…},…]`: every
    /// upstream attempt in order (`status` left out when no head came).
    mutating func addAttempts(_ attempts: [Attempt], end: UInt64) {
        key("attempts")
        bytes.append(UInt8(ascii: "["))
        for (index, attempt) in attempts.enumerated() {
            if index > 0 { bytes.append(UInt8(ascii: ",")) }
            // Written in place: no line, string or array per attempt.
            append("{\"target\":\"")
            appendStringContent(attempt.target.provider.name)
            bytes.append(UInt8(ascii: "/"))
            appendStringContent(attempt.target.name)
            append("\",\"outcome\":\"")
            let outcome = attempt.outcome ?? (attempt.failure.map(AttemptOutcome.init) ?? .cancelled)
            appendStringContent(outcome.rawValue)
            bytes.append(UInt8(ascii: "\""))
            if let status = attempt.status {
                append(",\"status\":")
                appendDecimal(status)
            }
            append(",\"ms\":")
            appendMilliseconds((attempt.endNanos ?? end) &- attempt.startNanos)
            if attempt.translated { append(",\"translated\":true") }
            bytes.append(UInt8(ascii: "}"))
        }
        bytes.append(UInt8(ascii: "]"))
    }

    /// `"time":"<now>"`, the bytes given by the wall clock.
    mutating func addTime(_ now: UnsafeRawBufferPointer) {
        key("time")
        bytes.append(UInt8(ascii: "\""))
        bytes.append(contentsOf: now)
        bytes.append(UInt8(ascii: "\""))
    }

    mutating func addMilliseconds(_ key: StaticString, _ nanos: UInt64) {
        self.key(key)
        appendMilliseconds(nanos)
    }

    /// Milliseconds with three decimals (microsecond resolution), e.g. `12.345`.
    mutating func appendMilliseconds(_ nanos: UInt64) {
        let micros = nanos / 1_000
        appendDecimal(Int(micros / 1_000))
        bytes.append(UInt8(ascii: "."))
        let fraction = Int(micros % 1_000)
        if fraction < 100 { bytes.append(UInt8(ascii: "0")) }
        if fraction < 10 { bytes.append(UInt8(ascii: "0")) }
        appendDecimal(fraction)
    }

    mutating func finished() -> [UInt8] {
        bytes.append(UInt8(ascii: "}"))
        return bytes
    }

    private mutating func key(_ key: StaticString) {
        if !empty { bytes.append(UInt8(ascii: ",")) }
        empty = false
        bytes.append(UInt8(ascii: "\""))
        key.withUTF8Buffer { bytes.append(contentsOf: $0) }
        bytes.append(UInt8(ascii: "\""))
        bytes.append(UInt8(ascii: ":"))
    }

    private mutating func append(_ text: StaticString) {
        text.withUTF8Buffer { bytes.append(contentsOf: $0) }
    }

    private mutating func appendDecimal(_ value: Int) {
        if value < 0 {
            bytes.append(UInt8(ascii: "-"))
            appendDecimal(UInt(value.magnitude))
        } else {
            appendDecimal(UInt(value))
        }
    }

    private mutating func appendDecimal(_ value: UInt) {
        if value >= 10 { appendDecimal(value / 10) }
        bytes.append(UInt8(ascii: "0") + UInt8(value % 10))
    }

    /// A JSON string: quotes, backslashes and control characters escaped; the rest (valid
    /// UTF-8, as Swift strings are) copied as is.
    private mutating func appendQuoted<S: StringProtocol>(_ value: S) {
        bytes.append(UInt8(ascii: "\""))
        appendStringContent(value)
        bytes.append(UInt8(ascii: "\""))
    }

    /// A JSON string's characters without its quotes: quotes, backslashes and control
    /// characters escaped; the rest (valid UTF-8, as Swift strings are) copied as is.
    private mutating func appendStringContent<S: StringProtocol>(_ value: S) {
        // The usual value needs no escape: copy it whole.
        let copied = value.utf8.withContiguousStorageIfAvailable { utf8 -> Bool in
            for byte in utf8 where byte < 0x20 || byte == UInt8(ascii: "\"") || byte == UInt8(ascii: "\\") {
                return false
            }
            bytes.append(contentsOf: utf8)
            return true
        }
        if copied != true { appendEscaped(value) }
    }

    private mutating func appendEscaped<S: StringProtocol>(_ value: S) {
        for byte in value.utf8 {
            switch byte {
            case UInt8(ascii: "\""): bytes.append(UInt8(ascii: "\\")); bytes.append(byte)
            case UInt8(ascii: "\\"): bytes.append(UInt8(ascii: "\\")); bytes.append(byte)
            case UInt8(ascii: "\n"): bytes.append(UInt8(ascii: "\\")); bytes.append(UInt8(ascii: "n"))
            case UInt8(ascii: "\r"): bytes.append(UInt8(ascii: "\\")); bytes.append(UInt8(ascii: "r"))
            case UInt8(ascii: "\t"): bytes.append(UInt8(ascii: "\\")); bytes.append(UInt8(ascii: "t"))
            case 0..<0x20:
                let hex: [UInt8] = Array("0123456789abcdef".utf8)
                bytes.append(contentsOf: [UInt8(ascii: "\\"), UInt8(ascii: "u"), UInt8(ascii: "0"), UInt8(ascii: "0"), hex[Int(byte >> 4)], hex[Int(byte & 0xF)]])
            default: bytes.append(byte)
            }
        }
    }
}
