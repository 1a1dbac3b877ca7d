import SluiceWire

/// The tool a request's `tools` and `tool_choice` make the mock call, with deterministic arguments.
///
/// OpenAI chat completions: `tools: [{"type":"function","function":{"name","parameters"}}]`,
/// `tool_choice` `"none"` (no call), `"auto"` / `"required"` / absent (the first tool) or
/// `{"type":"function","function":{"name":…}}` (that tool). Anthropic messages:
/// `tools: [{"name","input_schema"}]`, `tool_choice` `{"type":"none"}`, `auto` / `any` (the first
/// tool) or `{"type":"tool","name":…}`. No call when the last message is a tool result (OpenAI
/// role `tool`, Anthropic a `tool_result` block): the model answers that with text.
struct ToolCallRequest: Sendable, Equatable {
    var name: String
    /// Compact JSON object text, one value per schema property in name order.
    var arguments: String

    /// Tokens the call adds to the output beyond its JSON (the function-call framing).
    static let framingTokens = 8
    /// Characters per streamed arguments fragment.
    static let fragmentLength = 8

    /// Output tokens a response carrying this call reports.
    var outputTokens: Int {
        ParsedRequest.tokens(forCharacters: self.name.unicodeScalars.count + self.arguments.unicodeScalars.count) + Self.framingTokens
    }

    /// The arguments cut into stream fragments, each already escaped for a JSON string.
    var fragments: [String] {
        var pieces: [String] = []
        var current = ""
        var count = 0
        for scalar in self.arguments.unicodeScalars {
            current.unicodeScalars.append(scalar)
            count += 1
            if count == Self.fragmentLength {
                pieces.append(current)
                current = ""
                count = 0
            }
        }
        if !current.isEmpty { pieces.append(current) }
        return pieces.map { String(JSONText.quoted($0).dropFirst().dropLast()) }
    }

    /// The call `root` (a request body) asks for, if any.
    static func choose(_ root: JSONValue, endpoint: Endpoint) -> ToolCallRequest? {
        guard endpoint == .chatCompletions || endpoint == .messages else { return nil }
        guard case .array(let tools)? = root["tools"], !tools.isEmpty else { return nil }
        guard !self.lastMessageIsToolResult(root["messages"], endpoint: endpoint) else { return nil }
        let anthropic = endpoint == .messages
        var named: String?
        switch root["tool_choice"] {
        case .string(let choice)?:
            if choice == "none" { return nil }
        case .object?:
            let choice = root["tool_choice"]
            let type = choice?["type"]?.stringValue
            if type == "none" { return nil }
            named = anthropic ? choice?["name"]?.stringValue : choice?["function"]?["name"]?.stringValue
        default:
            break
        }
        // (name, schema) of each tool, in order.
        let declared: [(String, JSONValue?)] = tools.compactMap { tool in
            if anthropic {
                return tool["name"]?.stringValue.map { ($0, tool["input_schema"]) }
            }
            return tool["function"]?["name"]?.stringValue.map { ($0, tool["function"]?["parameters"]) }
        }
        guard let first = declared.first else { return nil }
        let chosen = named.flatMap { name in declared.first { $0.0 == name } } ?? first
        return ToolCallRequest(name: chosen.0, arguments: self.arguments(chosen.1, depth: 0))
    }

    private static func lastMessageIsToolResult(_ messages: JSONValue?, endpoint: Endpoint) -> Bool {
        guard case .array(let items)? = messages, let last = items.last else { return false }
        if endpoint == .chatCompletions {
            let role = last["role"]?.stringValue
            return role == "tool" || role == "function"
        }
        guard last["role"]?.stringValue == "user", case .array(let blocks)? = last["content"] else { return false }
        return blocks.contains { $0["type"]?.stringValue == "tool_result" }
    }

    /// A JSON object with a value for each property of `schema`, keys sorted.
    static func arguments(_ schema: JSONValue?, depth: Int) -> String {
        guard case .object(let properties)? = schema?["properties"], depth < 4 else { return "{}" }
        let fields = properties.keys.sorted().map { key in
            JSONText.quoted(key) + ":" + self.value(for: properties[key], name: key, depth: depth)
        }
        return "{" + fields.joined(separator: ",") + "}"
    }

    private static func value(for schema: JSONValue?, name: String, depth: Int) -> String {
        if case .array(let choices)? = schema?["enum"], let first = choices.first {
            return self.render(first)
        }
        var type = schema?["type"]?.stringValue
        if case .array(let types)? = schema?["type"] {
            type = types.compactMap(\.stringValue).first { $0 != "null" }
        }
        switch type {
        case "integer": return "1"
        case "number": return "1.5"
        case "boolean": return "true"
        case "array": return "[]"
        case "object": return self.arguments(schema, depth: depth + 1)
        case "null": return "null"
        default: return JSONText.quoted(name + "-value")
        }
    }

    private static func render(_ value: JSONValue) -> String {
        switch value {
        case .null: return "null"
        case .bool(let flag): return flag ? "true" : "false"
        case .number(let number): return number.rounded() == number && abs(number) < 1e15 ? String(Int(number)) : String(number)
        case .string(let text): return JSONText.quoted(text)
        case .array, .object: return "null"
        }
    }

    /// Tool names and descriptions, which the real APIs count as input.
    static func declarationText(_ root: JSONValue) -> [String] {
        guard case .array(let tools)? = root["tools"] else { return [] }
        return tools.flatMap { tool -> [String] in
            let function = tool["function"] ?? tool
            return [function["name"]?.stringValue, function["description"]?.stringValue].compactMap { $0 }
        }
    }
}

/// A tool call planned for one response: the request plus the ids the response carries.
struct PlannedToolCall: Sendable {
    var request: ToolCallRequest
    /// `call_…` (OpenAI) or `toolu_…` (Anthropic).
    var id: String
    var fragments: [String]
}
