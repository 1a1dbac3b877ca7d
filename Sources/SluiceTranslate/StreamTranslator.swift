// The public stream translator: parses one upstream SSE event and hands it to the
// direction's state machine.
import SluiceWire

/// Translates an upstream SSE stream, event by event, into the client's format.
public struct StreamTranslator: Sendable {
    /// Which state machine runs, by direction.
    private enum Direction: Sendable {
        case anthropicToOpenAI(AnthropicToOpenAIStream)
        case openAIToAnthropic(OpenAIToAnthropicStream)
        case passThrough(completed: Bool)
    }

    private var direction: Direction

    /// - Parameters:
    ///   - upstream: the family whose events come in.
    ///   - client: the family the client reads; the same family passes events through unchanged.
    public init(from upstream: APIFamily, to client: APIFamily) {
        switch (upstream, client) {
        case (.anthropic, .openai): direction = .anthropicToOpenAI(AnthropicToOpenAIStream())
        case (.openai, .anthropic): direction = .openAIToAnthropic(OpenAIToAnthropicStream())
        default: direction = .passThrough(completed: false)
        }
    }

    /// One complete upstream SSE event (its raw bytes, `event:`/`data:` lines and the blank
    /// line) → zero or more complete SSE events for the client, each ending with a blank line.
    public mutating func translate(event: [UInt8]) -> [String] {
        let parsed = SSEMessage(event)
        switch direction {
        case .anthropicToOpenAI(var machine):
            let out = machine.translate(parsed)
            direction = .anthropicToOpenAI(machine)
            return out
        case .openAIToAnthropic(var machine):
            let out = machine.translate(parsed)
            direction = .openAIToAnthropic(machine)
            return out
        case .passThrough(let completed):
            let ends = parsed.data == "[DONE]" || parsed.jsonObject?["type"]?.stringValue == "message_stop"
            direction = .passThrough(completed: completed || ends)
            return [String(decoding: event, as: UTF8.self)]
        }
    }

    /// Whether the upstream's terminal event was seen (`message_stop` / `data: [DONE]`).
    public var completed: Bool {
        switch direction {
        case .anthropicToOpenAI(let machine): return machine.completed
        case .openAIToAnthropic(let machine): return machine.completed
        case .passThrough(let completed): return completed
        }
    }
}

/// One parsed SSE event: its `event:` name and its `data:` lines joined with newlines.
struct SSEMessage: Sendable {
    var name: String?
    var data: String?

    init(_ bytes: [UInt8]) {
        var dataLines: [String] = []
        var start = 0
        var index = 0
        func takeLine(_ end: Int) {
            let line = String(decoding: bytes[start..<end], as: UTF8.self)
            guard !line.isEmpty, !line.hasPrefix(":") else { return }
            let field: Substring
            var value: Substring
            if let colon = line.firstIndex(of: ":") {
                field = line[..<colon]
                value = line[line.index(after: colon)...]
                if value.hasPrefix(" ") { value = value.dropFirst() }
            } else {
                field = line[...]
                value = ""
            }
            switch field {
            case "event": name = String(value)
            case "data": dataLines.append(String(value))
            default: break
            }
        }
        while index < bytes.count {
            let byte = bytes[index]
            if byte == 0x0A || byte == 0x0D {
                takeLine(index)
                if byte == 0x0D, index + 1 < bytes.count, bytes[index + 1] == 0x0A { index += 1 }
                start = index + 1
            }
            index += 1
        }
        if start < bytes.count { takeLine(bytes.count) }
        data = dataLines.isEmpty ? nil : dataLines.joined(separator: "\n")
    }

    /// The data parsed as a JSON object, when it is one.
    var jsonObject: JSONObject? {
        guard let data else { return nil }
        return (try? JSON.parse(data))?.objectValue
    }
}

/// SSE text for the client.
enum SSEText {
    static func data(_ payload: String) -> String { "data: \(payload)\n\n" }

    static func event(_ name: String, _ payload: JSON) -> String { "event: \(name)\ndata: \(payload.serialized)\n\n" }
}
