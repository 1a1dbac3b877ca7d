import Foundation
import SluiceWire

/// One scripted misbehaviour, applied to one request; all fields unset (`{}`) = answer normally.
///
/// JSON (`POST /mock/faults`): `status` (400–599, answered with the provider-shaped error),
/// `retry_after` (seconds, sent as `Retry-After`), `retry_after_ms` (sent as `retry-after-ms`),
/// `hang` (`head` | `mid`), `reset` (`before` | `mid`), `ttft_ms` (streams: delay before the first
/// content event; other responses: delay before the head), `latency_ms` (delay before the head).
public struct MockFault: Sendable, Equatable {
    /// Where a hang or reset happens.
    public enum Point: String, Sendable, Equatable {
        /// Before any response byte.
        case head
        /// Half-way through the body or stream.
        case mid
    }

    public var status: Int?
    public var retryAfterSeconds: Int?
    public var retryAfterMilliseconds: Int?
    public var hang: Point?
    public var reset: Point?
    public var timeToFirstTokenMilliseconds: Int?
    public var latencyMilliseconds: Int?

    public init(
        status: Int? = nil,
        retryAfterSeconds: Int? = nil,
        retryAfterMilliseconds: Int? = nil,
        hang: Point? = nil,
        reset: Point? = nil,
        timeToFirstTokenMilliseconds: Int? = nil,
        latencyMilliseconds: Int? = nil
    ) {
        self.status = status
        self.retryAfterSeconds = retryAfterSeconds
        self.retryAfterMilliseconds = retryAfterMilliseconds
        self.hang = hang
        self.reset = reset
        self.timeToFirstTokenMilliseconds = timeToFirstTokenMilliseconds
        self.latencyMilliseconds = latencyMilliseconds
    }

    /// Answers normally (`{}`).
    public var isNormal: Bool { self == MockFault() }

    /// The `Retry-After` / `retry-after-ms` headers this fault asks for.
    var retryHeaders: [(String, String)] {
        var headers: [(String, String)] = []
        if let seconds = self.retryAfterSeconds { headers.append(("retry-after", String(seconds))) }
        if let milliseconds = self.retryAfterMilliseconds { headers.append(("retry-after-ms", String(milliseconds))) }
        return headers
    }

    /// Reads one fault object; throws ``MockFaultError`` on unknown keys or bad values.
    init(json: JSONValue) throws {
        guard case .object(let fields) = json else { throw MockFaultError("a fault must be a JSON object") }
        self.init()
        for (key, value) in fields {
            switch key {
            case "status":
                guard let status = value.exactInt, (400...599).contains(status) else {
                    throw MockFaultError("status must be an integer in 400...599")
                }
                self.status = status
            case "retry_after": self.retryAfterSeconds = try Self.count(value, key)
            case "retry_after_ms": self.retryAfterMilliseconds = try Self.count(value, key)
            case "ttft_ms": self.timeToFirstTokenMilliseconds = try Self.count(value, key)
            case "latency_ms": self.latencyMilliseconds = try Self.count(value, key)
            case "hang":
                switch value.stringValue?.lowercased() {
                case "head": self.hang = .head
                case "mid": self.hang = .mid
                default: throw MockFaultError("hang must be \"head\" or \"mid\"")
                }
            case "reset":
                switch value.stringValue?.lowercased() {
                case "before", "head": self.reset = .head
                case "mid": self.reset = .mid
                default: throw MockFaultError("reset must be \"before\" or \"mid\"")
                }
            default:
                throw MockFaultError("unknown fault field \"\(key)\"")
            }
        }
    }

    private static func count(_ value: JSONValue, _ key: String) throws -> Int {
        guard let count = value.exactInt, count >= 0 else { throw MockFaultError("\(key) must be a non-negative integer") }
        return count
    }

    /// The fault as the JSON object it was written as.
    var json: String {
        var fields: [String] = []
        if let status { fields.append("\"status\":\(status)") }
        if let retryAfterSeconds { fields.append("\"retry_after\":\(retryAfterSeconds)") }
        if let retryAfterMilliseconds { fields.append("\"retry_after_ms\":\(retryAfterMilliseconds)") }
        if let hang { fields.append("\"hang\":\"\(hang.rawValue)\"") }
        if let reset { fields.append("\"reset\":\"\(reset == .head ? "before" : "mid")\"") }
        if let timeToFirstTokenMilliseconds { fields.append("\"ttft_ms\":\(timeToFirstTokenMilliseconds)") }
        if let latencyMilliseconds { fields.append("\"latency_ms\":\(latencyMilliseconds)") }
        return "{" + fields.joined(separator: ",") + "}"
    }
}

/// The faults for one model, consumed one per matching request, then `then` for ever.
///
/// JSON: `{"model": "gpt-4o", "faults": [{...}, ...], "then": {...}}`; `model` `"*"` matches
/// every model without a script of its own; an Azure request's model is its deployment.
public struct MockFaultScript: Sendable, Equatable {
    /// Matches any model.
    public static let anyModel = "*"

    public var model: String
    public var faults: [MockFault]
    /// Applies once `faults` is used up; nil = answer normally.
    public var then: MockFault?

    public init(model: String, faults: [MockFault], then: MockFault? = nil) {
        self.model = model
        self.faults = faults
        self.then = then
    }

    /// Reads a `POST /mock/faults` body.
    public static func parse(_ data: Data) throws -> MockFaultScript {
        guard let root = try? JSONDecoder().decode(JSONValue.self, from: data), case .object(let fields) = root else {
            throw MockFaultError("the body must be a JSON object")
        }
        for key in fields.keys where !["model", "faults", "then"].contains(key) {
            throw MockFaultError("unknown field \"\(key)\"")
        }
        guard let model = root["model"]?.stringValue, !model.isEmpty else {
            throw MockFaultError("model must be a non-empty string (\"*\" for every model)")
        }
        var faults: [MockFault] = []
        switch root["faults"] {
        case .array(let items): faults = try items.map { try MockFault(json: $0) }
        case nil, .null: break
        default: throw MockFaultError("faults must be an array")
        }
        var then: MockFault?
        switch root["then"] {
        case nil, .null: break
        case let value?: then = try MockFault(json: value)
        }
        return MockFaultScript(model: model, faults: faults, then: then)
    }
}

/// A `POST /mock/faults` body the mock cannot use; answered 400 with this message.
public struct MockFaultError: Error, Equatable, CustomStringConvertible {
    public var description: String

    init(_ description: String) {
        self.description = description
    }
}

/// The scripts in force and how far each has been consumed.
struct FaultBook: Sendable {
    struct Entry: Sendable {
        var script: MockFaultScript
        /// Matching requests so far (it may exceed `script.faults.count`: `then` took over).
        var consumed = 0
    }

    private(set) var entries: [String: Entry] = [:]

    /// Installs `script`, replacing any earlier script for the same model.
    mutating func install(_ script: MockFaultScript) {
        self.entries[script.model] = Entry(script: script)
    }

    mutating func clear() {
        self.entries = [:]
    }

    /// The fault for the next request naming `model` (its own script, else `"*"`); nil when no
    /// script applies (answer normally). Consumes one step of the script.
    mutating func take(model: String) -> MockFault? {
        let key = self.entries[model] != nil ? model : MockFaultScript.anyModel
        guard var entry = self.entries[key] else { return nil }
        let index = entry.consumed
        entry.consumed += 1
        self.entries[key] = entry
        if index < entry.script.faults.count { return entry.script.faults[index] }
        return entry.script.then
    }

    /// `GET /mock/faults`: `{"scripts":[{"model":…,"faults":[…],"then":…,"consumed":N}]}`, sorted by model.
    var json: String {
        let scripts = self.entries.keys.sorted().compactMap { key -> String? in
            guard let entry = self.entries[key] else { return nil }
            let faults = entry.script.faults.map(\.json).joined(separator: ",")
            return "{\"model\":\(JSONText.quoted(key)),\"faults\":[\(faults)],\"then\":\(entry.script.then?.json ?? "null"),"
                + "\"consumed\":\(entry.consumed)}"
        }
        return "{\"scripts\":[" + scripts.joined(separator: ",") + "]}"
    }
}

extension JSONValue {
    /// An integral number (no fraction), as `Int`.
    var exactInt: Int? {
        guard case .number(let value) = self, value.isFinite, value.rounded() == value, abs(value) < 1e15 else { return nil }
        return Int(value)
    }
}
