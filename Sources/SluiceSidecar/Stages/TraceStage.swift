import NIOHTTP1

/// W3C trace context of one call: the trace it belongs to and the span Sluice opens.
public struct TraceContext: Sendable, Equatable {
    /// 32 lowercase hex digits.
    public var traceID: String
    /// The caller's span (16 hex digits), when it sent a `traceparent`.
    public var parentSpanID: String?
    /// Sluice's own span, the parent of the upstream call.
    public var spanID: String
    /// Trace flags (2 hex digits; `01` = sampled).
    public var flags: String

    /// The `traceparent` Sluice sends upstream (one allocation).
    public var upstreamTraceparent: String {
        let length = 3 + traceID.utf8.count + 1 + spanID.utf8.count + 1 + flags.utf8.count
        return String(unsafeUninitializedCapacity: length) { out in
            var index = 0
            func put(_ text: String) { for byte in text.utf8 { out[index] = byte; index += 1 } }
            put("00-"); put(traceID); put("-"); put(spanID); put("-"); put(flags)
            return index
        }
    }
}

/// Trace: accepts the caller's W3C `traceparent` (or starts a trace when there is none or
/// it is malformed), opens a span for the proxy hop, forwards the new `traceparent`
/// upstream, and returns the trace id in `x-sluice-trace-id`.
public struct TraceStage: CallStage {
    public let name = "trace"

    public init() {}

    public func enter(_ call: Call) -> StageDecision {
        let bits = call.traceBits
        let span = TraceStage.hex(bits.span == 0 ? 1 : bits.span)
        if let header = call.head.headers.first(name: "traceparent"), let parsed = TraceStage.parse(header) {
            call.trace = TraceContext(traceID: parsed.traceID, parentSpanID: parsed.spanID, spanID: span, flags: parsed.flags)
        } else {
            let traceID = TraceStage.hex(bits.high, bits.low | 1)
            call.trace = TraceContext(traceID: traceID, parentSpanID: nil, spanID: span, flags: "01")
        }
        return .next
    }

    public func decorate(_ call: Call, headers: inout HTTPHeaders, trailers: Bool) {
        guard !trailers, let trace = call.trace else { return }
        headers.add(name: "x-sluice-trace-id", value: trace.traceID)
    }

    /// Parses `version-traceid-spanid-flags` per W3C Trace Context; nil when malformed or
    /// all-zero ids.
    static func parse(_ header: String) -> (traceID: String, spanID: String, flags: String)? {
        let parts = header.trimmingWhitespace().split(separator: "-", omittingEmptySubsequences: false)
        guard parts.count >= 4, parts[0].count == 2, parts[0] != "ff",
              parts[1].count == 32, parts[2].count == 16, parts[3].count == 2,
              parts.prefix(4).allSatisfy({ $0.allSatisfy(\.isLowercaseHexDigit) }),
              parts[1].contains(where: { $0 != "0" }), parts[2].contains(where: { $0 != "0" })
        else { return nil }
        if parts[0] == "00" && parts.count != 4 { return nil }
        return (String(parts[1]), String(parts[2]), String(parts[3]))
    }

    /// 16 lowercase hex digits, in one allocation.
    static func hex(_ value: UInt64) -> String {
        String(unsafeUninitializedCapacity: 16) { out in
            HexDigits.write(value, into: out, at: 0)
            return 16
        }
    }

    /// 32 lowercase hex digits of two values, in one allocation.
    static func hex(_ high: UInt64, _ low: UInt64) -> String {
        String(unsafeUninitializedCapacity: 32) { out in
            HexDigits.write(high, into: out, at: 0)
            HexDigits.write(low, into: out, at: 16)
            return 32
        }
    }
}

/// Writes fixed-width lowercase hex, for ids built in one allocation.
enum HexDigits {
    /// The low `digits` hex digits of `value`, most significant first, at `start`.
    static func write(_ value: UInt64, digits: Int = 16, into out: UnsafeMutableBufferPointer<UInt8>, at start: Int) {
        var rest = value
        for index in stride(from: start + digits - 1, through: start, by: -1) {
            let digit = UInt8(rest & 0xF)
            out[index] = digit < 10 ? UInt8(ascii: "0") + digit : UInt8(ascii: "a") + digit - 10
            rest >>= 4
        }
    }
}

extension Character {
    var isLowercaseHexDigit: Bool {
        ("0"..."9").contains(self) || ("a"..."f").contains(self)
    }
}
