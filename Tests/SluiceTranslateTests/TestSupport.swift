// Shared helpers for the SluiceTranslate tests: fixtures, order-free JSON comparison, SSE
// streams cut into events and read back through SluiceWire's usage tracker.
import Foundation
import NIOCore
import SluiceWire
import Testing
@testable import SluiceTranslate

/// Errors of the helpers themselves (a missing fixture, bytes that should be JSON).
struct TestSupportError: Error, CustomStringConvertible {
    var description: String
}

/// The bytes of Tests/SluiceTranslateTests/Fixtures/`name`.
func fixture(_ name: String) throws -> [UInt8] {
    let base = (name as NSString).deletingPathExtension
    let ext = (name as NSString).pathExtension
    guard let url = Bundle.module.url(forResource: base, withExtension: ext, subdirectory: "Fixtures") else {
        throw TestSupportError(description: "no fixture \(name)")
    }
    return Array(try Data(contentsOf: url))
}

/// `bytes` parsed as JSON with every object's members sorted by key, so member order does not matter.
func canonical(_ bytes: [UInt8]) throws -> JSON {
    do {
        return sortedKeys(try JSON.parse(bytes))
    } catch {
        throw TestSupportError(description: "not JSON: \(String(decoding: bytes, as: UTF8.self))")
    }
}

func canonical(_ text: String) throws -> JSON {
    try canonical(Array(text.utf8))
}

func sortedKeys(_ value: JSON) -> JSON {
    switch value {
    case .array(let elements): return .array(elements.map(sortedKeys))
    case .object(let object):
        let members = object.members.map { (key: $0.key, value: sortedKeys($0.value)) }.sorted { $0.key < $1.key }
        return .object(JSONObject(members: members))
    default: return value
    }
}

/// `value` with member `key` of every object (at any depth) set to `replacement` where present.
func replacing(_ key: String, with replacement: JSON, in value: JSON) -> JSON {
    switch value {
    case .array(let elements): return .array(elements.map { replacing(key, with: replacement, in: $0) })
    case .object(let object):
        let members = object.members.map { member in
            (key: member.key, value: member.key == key ? replacement : replacing(key, with: replacement, in: member.value))
        }
        return .object(JSONObject(members: members))
    default: return value
    }
}

/// The member at a dotted path (`choices.0.message.content`) of a parsed body.
func member(_ value: JSON, _ path: String) -> JSON? {
    var current: JSON? = value
    for step in path.split(separator: ".") {
        if let index = Int(step) {
            guard let elements = current?.arrayValue, index < elements.count else { return nil }
            current = elements[index]
        } else {
            current = current?.objectValue?[String(step)]
        }
    }
    return current
}

func parseObject(_ bytes: [UInt8]) throws -> JSON {
    do {
        return try JSON.parse(bytes)
    } catch {
        throw TestSupportError(description: "not JSON: \(String(decoding: bytes, as: UTF8.self))")
    }
}

/// An SSE stream cut into its events (each with its blank line), as SluiceWire's splitter cuts it.
func sseEvents(_ stream: [UInt8]) -> [[UInt8]] {
    var splitter = SSEEventSplitter()
    var events: [[UInt8]] = []
    _ = splitter.append(ByteBuffer(bytes: stream)) { event in
        events.append(Array(event.readableBytesView))
    }
    return events
}

/// Runs every event of `stream` through a translator; returns what the client gets.
func translateStream(_ stream: [UInt8], from upstream: APIFamily, to client: APIFamily) -> (events: [String], completed: Bool) {
    var translator = StreamTranslator(from: upstream, to: client)
    var out: [String] = []
    for event in sseEvents(stream) {
        out += translator.translate(event: event)
    }
    return (out, translator.completed)
}

/// One client-side event read back: its `event:` name and its data (JSON, or `[DONE]` as a string).
struct ReadEvent: Equatable, CustomStringConvertible {
    var name: String?
    var data: JSON

    var description: String { "\(name.map { "event: \($0) " } ?? "")\(data.serialized)" }
}

/// Reads the translator's output as the client would: every string must be whole SSE events.
func readEvents(_ events: [String], normalizingCreated: Bool = true) throws -> [ReadEvent] {
    var read: [ReadEvent] = []
    for text in events {
        #expect(text.hasSuffix("\n\n"), "event does not end with a blank line: \(text)")
        for event in sseEvents(Array(text.utf8)) {
            let message = SSEMessage(event)
            guard let data = message.data else { throw TestSupportError(description: "event without data: \(text)") }
            var value: JSON = data == "[DONE]" ? .string("[DONE]") : try canonical(data)
            if normalizingCreated { value = replacing("created", with: 0, in: value) }
            read.append(ReadEvent(name: message.name, data: value))
        }
    }
    return read
}

/// What SluiceWire's tracker makes of a client-format stream.
struct TrackedStream {
    var usage: TokenUsage?
    var completed: Bool
    var sawErrorEvent: Bool
    /// The events the client receives after the tracker's changes.
    var relayed: [String]
}

func track(_ stream: [UInt8], family: APIFamily, hideInjectedUsage: Bool = false) -> TrackedStream {
    var tracker = StreamUsageTracker(family: family, hideInjectedUsage: hideInjectedUsage)
    var relayed: [String] = []
    for event in sseEvents(stream) {
        let buffer = ByteBuffer(bytes: event)
        switch tracker.observe(buffer, allocator: ByteBufferAllocator()) {
        case .forward: relayed.append(String(buffer: buffer))
        case .replace(let replacement): relayed.append(String(buffer: replacement))
        case .drop: break
        }
    }
    return TrackedStream(usage: tracker.usage, completed: tracker.completed, sawErrorEvent: tracker.sawErrorEvent, relayed: relayed)
}

func track(_ events: [String], family: APIFamily, hideInjectedUsage: Bool = false) -> TrackedStream {
    track(Array(events.joined().utf8), family: family, hideInjectedUsage: hideInjectedUsage)
}

/// Usage read from a whole response body by SluiceWire's parser.
func bodyUsage(_ body: [UInt8], family: APIFamily) -> TokenUsage? {
    body.withUnsafeBytes { UsageParser.usage(inResponseBody: $0, family: family) }
}

func bytes(_ text: String) -> [UInt8] { Array(text.utf8) }

func text(_ bytes: [UInt8]) -> String { String(decoding: bytes, as: UTF8.self) }

/// Translates a request, returning the error instead of throwing it.
func requestResult(_ body: String, from client: APIFamily, to upstream: APIFamily, model: String = "target-model") -> Result<JSON, TranslationError> {
    do throws(TranslationError) {
        let out = try Translation.request(bytes(body), from: client, to: upstream, upstreamModel: model)
        guard let parsed = try? JSON.parse(out) else {
            Issue.record("translation produced invalid JSON: \(text(out))")
            return .failure(TranslationError(message: "invalid output", param: "<invalid output>"))
        }
        return .success(sortedKeys(parsed))
    } catch {
        return .failure(error)
    }
}
