import NIOCore

/// What the proxy needs from a client's JSON request body, found in one validating scan,
/// and the in-place edits it makes before forwarding (upstream model name, usage option).
public struct RequestBody: Sendable {
    /// Why a body cannot be routed.
    public enum Problem: Error, Sendable, Equatable {
        case notJSON(JSONScanner.Failure)
        case notAnObject
        case modelNotAString
        /// A member that steers routing appears twice (`model`, `stream`, `stream_options`):
        /// parsers disagree on which one wins, so the body is refused.
        case duplicateMember(String)
    }

    /// The `model` member as the client sent it, if any.
    public private(set) var model: String?
    /// Whether the client asked for a stream (`"stream": true`).
    public private(set) var stream: Bool
    /// Whether the client itself set `stream_options.include_usage` to true.
    public private(set) var clientRequestedUsage: Bool

    private var object: JSONScanner.Object
    private var modelRange: Range<Int>?
    private var streamOptions: JSONScanner.Member?
    private var includeUsageMember: JSONScanner.Member?

    /// Scans `body` (its readable bytes). Empty bodies are not JSON.
    public init(scanning body: ByteBuffer) throws(Problem) {
        let result: Result<RequestBody, Problem> = body.withUnsafeReadableBytes { bytes in
            do throws(Problem) {
                return .success(try RequestBody(bytes: bytes))
            } catch {
                return .failure(error)
            }
        }
        self = try result.get()
    }

    private init(bytes: UnsafeRawBufferPointer) throws(Problem) {
        let object: JSONScanner.Object
        do {
            object = try JSONScanner.scanObject(bytes)
        } catch {
            if error.reason == "expected an object" && error.offset < bytes.count {
                // Valid JSON of another kind is "not an object"; anything else is not JSON.
                if (try? JSONScanner.validate(bytes)) != nil { throw .notAnObject }
            }
            throw .notJSON(error)
        }
        for key in ["model", "stream", "stream_options"] where object.members.lazy.filter({ $0.key == key }).count > 1 {
            throw .duplicateMember(key)
        }
        self.object = object
        self.stream = object.member("stream")?.kind == .true
        if let model = object.member("model") {
            guard model.kind == .string else { throw .modelNotAString }
            self.model = JSONScanner.decodeString(bytes, model.valueRange)
            self.modelRange = model.valueRange
        }
        self.clientRequestedUsage = false
        if let options = object.member("stream_options"), options.kind == .object {
            self.streamOptions = options
            if let inner = try? JSONScanner.scanObject(bytes, in: options.valueRange),
               let include = inner.member("include_usage") {
                if inner.members.lazy.filter({ $0.key == "include_usage" }).count > 1 {
                    throw .duplicateMember("stream_options.include_usage")
                }
                self.includeUsageMember = include
                self.clientRequestedUsage = include.kind == .true
            }
        } else if let options = object.member("stream_options") {
            self.streamOptions = options
        }
    }

    /// The body to send upstream: `model` replaced by `upstreamModel` when it differs, and
    /// `stream_options.include_usage` forced on when `requestUsage` is set and the client
    /// did not ask for it. Returns `body` itself (no copy) when nothing changes.
    public func rewritten(_ body: ByteBuffer, upstreamModel: String?, requestUsage: Bool, allocator: ByteBufferAllocator) -> ByteBuffer {
        var edits: [(range: Range<Int>, replacement: String)] = []
        if let upstreamModel, let modelRange, upstreamModel != model {
            edits.append((modelRange, JSONText.quoted(upstreamModel)))
        }
        if requestUsage && !clientRequestedUsage {
            if let include = includeUsageMember {
                edits.append((include.valueRange, "true"))
            } else if let options = streamOptions, options.kind == .object {
                // Insert as the first member of the existing object.
                let afterBrace = options.valueRange.lowerBound + 1
                let isEmpty = body.withUnsafeReadableBytes { bytes in
                    bytes[afterBrace..<(options.valueRange.upperBound - 1)].allSatisfy {
                        $0 == 0x20 || $0 == 0x09 || $0 == 0x0A || $0 == 0x0D
                    }
                }
                edits.append((afterBrace..<afterBrace, isEmpty ? "\"include_usage\":true" : "\"include_usage\":true,"))
            } else if let options = streamOptions {
                edits.append((options.valueRange, "{\"include_usage\":true}"))
            } else {
                let close = object.closeBrace
                let separator = object.members.isEmpty ? "" : ","
                edits.append((close..<close, "\(separator)\"stream_options\":{\"include_usage\":true}"))
            }
        }
        guard !edits.isEmpty else { return body }
        edits.sort { $0.range.lowerBound < $1.range.lowerBound }
        var out = allocator.buffer(capacity: body.readableBytes + 64)
        body.withUnsafeReadableBytes { bytes in
            var cursor = 0
            for edit in edits {
                out.writeBytes(UnsafeRawBufferPointer(rebasing: bytes[cursor..<edit.range.lowerBound]))
                out.writeString(edit.replacement)
                cursor = edit.range.upperBound
            }
            out.writeBytes(UnsafeRawBufferPointer(rebasing: bytes[cursor..<bytes.count]))
        }
        return out
    }
}

/// Small helpers to write JSON text without a full encoder.
public enum JSONText {
    /// `value` as a JSON string literal, quotes included.
    public static func quoted(_ value: String) -> String {
        var out = "\""
        out.reserveCapacity(value.utf8.count + 2)
        for scalar in value.unicodeScalars {
            switch scalar {
            case "\"": out += "\\\""
            case "\\": out += "\\\\"
            case "\n": out += "\\n"
            case "\r": out += "\\r"
            case "\t": out += "\\t"
            case let s where s.value < 0x20:
                let hex = String(s.value, radix: 16)
                out += "\\u" + String(repeating: "0", count: 4 - hex.count) + hex
            default: out.unicodeScalars.append(scalar)
            }
        }
        out += "\""
        return out
    }
}
