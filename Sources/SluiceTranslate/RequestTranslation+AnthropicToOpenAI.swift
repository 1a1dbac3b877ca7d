// An Anthropic messages request rewritten as an OpenAI chat completions request.

/// Builds an OpenAI `POST /v1/chat/completions` body from an Anthropic messages body.
enum AnthropicToOpenAIRequest {
    static func translate(_ body: JSONObject, model: String) throws(TranslationError) -> JSON {
        let request = Fields(body)
        try rejectUnsupported(request)
        var out = JSONObject()
        out["model"] = .string(model)

        var messages: [JSON] = []
        if let system = try systemMessage(request) { messages.append(.object(system)) }
        guard let turns = try request.objects("messages") else {
            throw TranslationError(message: "`messages` is required.", param: "messages")
        }
        for turn in turns {
            for message in try self.messages(turn) { messages.append(.object(message)) }
        }
        out["messages"] = .array(messages)

        if let maxTokens = try request.int("max_tokens") { out["max_completion_tokens"] = .int(maxTokens) }
        if let stops = try request.array("stop_sequences"), !stops.isEmpty {
            guard stops.allSatisfy({ $0.stringValue != nil }) else {
                throw request.wrongType("stop_sequences", "an array of strings")
            }
            out["stop"] = .array(stops)
        }
        if let temperature = try request.number("temperature") { out["temperature"] = temperature }
        if let topP = try request.number("top_p") { out["top_p"] = topP }
        if let metadata = try request.object("metadata"),
           let user = try Fields(metadata, path: "metadata").string("user_id") {
            out["user"] = .string(user)
        }
        if try request.bool("stream") == true {
            out["stream"] = true
            out["stream_options"] = ["include_usage": true]
        }
        if let tools = try request.objects("tools"), !tools.isEmpty {
            var translated: [JSON] = []
            for tool in tools { translated.append(.object(try self.tool(tool))) }
            out["tools"] = .array(translated)
            if let choice = try request.object("tool_choice") {
                let fields = Fields(choice, path: "tool_choice")
                if let mapped = try toolChoice(fields) { out["tool_choice"] = mapped }
                if try fields.bool("disable_parallel_tool_use") == true, mapped(fields) {
                    out["parallel_tool_calls"] = false
                }
            }
        }
        return .object(out)
    }

    /// Whether a tool choice still allows tool calls (so `parallel_tool_calls` applies).
    private static func mapped(_ choice: Fields) -> Bool {
        (try? choice.string("type")) != "none"
    }

    static func rejectUnsupported(_ request: Fields) throws(TranslationError) {
        if request.value("top_k") != nil {
            throw request.unsupported("top_k", "is not available for OpenAI models.")
        }
        if request.value("mcp_servers") != nil {
            throw request.unsupported("mcp_servers", "is not available for OpenAI models.")
        }
    }

    // MARK: Messages

    static func systemMessage(_ request: Fields) throws(TranslationError) -> JSONObject? {
        guard let system = request.value("system") else { return nil }
        if let text = system.stringValue { return ["role": "system", "content": .string(text)] }
        guard let blocks = try request.objects("system") else { throw request.wrongType("system", "a string or an array") }
        let parts = try textParts(blocks)
        guard !parts.isEmpty else { return nil }
        return ["role": "system", "content": collapsed(parts)]
    }

    /// Text blocks → OpenAI text parts.
    static func textParts(_ blocks: [Fields]) throws(TranslationError) -> [JSON] {
        var parts: [JSON] = []
        for block in blocks {
            let type = try block.requiredString("type")
            guard type == "text" else { throw block.unsupported("type", "`\(type)` is not allowed here for OpenAI models.") }
            parts.append(["type": "text", "text": .string(try block.requiredString("text"))])
        }
        return parts
    }

    /// One text part as a plain string, otherwise the parts.
    static func collapsed(_ parts: [JSON]) -> JSON {
        if parts.count == 1, let only = parts[0].objectValue, only["type"] == "text", let text = only["text"] { return text }
        return .array(parts)
    }

    /// One Anthropic turn → OpenAI messages (a user turn's tool results become `tool` messages first).
    static func messages(_ turn: Fields) throws(TranslationError) -> [JSONObject] {
        let role = try turn.requiredString("role")
        guard role == "user" || role == "assistant" else {
            throw turn.unsupported("role", "must be `user` or `assistant`.")
        }
        if let text = turn.value("content")?.stringValue { return [["role": .string(role), "content": .string(text)]] }
        guard let blocks = try turn.objects("content") else { throw turn.wrongType("content", "a string or an array") }
        return role == "user" ? try userMessages(blocks) : [try assistantMessage(blocks)]
    }

    static func userMessages(_ blocks: [Fields]) throws(TranslationError) -> [JSONObject] {
        var toolMessages: [JSONObject] = []
        var parts: [JSON] = []
        for block in blocks {
            let type = try block.requiredString("type")
            switch type {
            case "text": parts.append(["type": "text", "text": .string(try block.requiredString("text"))])
            case "image": parts.append(try image(block))
            case "tool_result": toolMessages.append(try toolMessage(block))
            default: throw block.unsupported("type", "`\(type)` content cannot be sent to OpenAI models.")
            }
        }
        var out = toolMessages
        if !parts.isEmpty { out.append(["role": "user", "content": collapsed(parts)]) }
        return out
    }

    /// `image` block → `image_url` part (base64 → data URL, url → the URL).
    static func image(_ block: Fields) throws(TranslationError) -> JSON {
        guard let source = try block.object("source") else { throw block.wrongType("source", "an object") }
        let fields = Fields(source, path: block.param("source"))
        let url: String
        switch try fields.requiredString("type") {
        case "base64":
            url = DataURL(mediaType: try fields.requiredString("media_type"), data: try fields.requiredString("data")).url
        case "url":
            url = try fields.requiredString("url")
        default:
            throw fields.unsupported("type", "must be `base64` or `url` for OpenAI models.")
        }
        return ["type": "image_url", "image_url": ["url": .string(url)]]
    }

    static func toolMessage(_ block: Fields) throws(TranslationError) -> JSONObject {
        let id = try block.requiredString("tool_use_id")
        let content: JSON
        switch block.value("content") {
        case nil: content = ""
        case .string(let text)?: content = .string(text)
        case .array?:
            let parts = try textParts(try block.objects("content") ?? [])
            content = parts.isEmpty ? "" : collapsed(parts)
        default: throw block.wrongType("content", "a string or an array")
        }
        return ["role": "tool", "tool_call_id": .string(id), "content": content]
    }

    static func assistantMessage(_ blocks: [Fields]) throws(TranslationError) -> JSONObject {
        var text = ""
        var sawText = false
        var calls: [JSON] = []
        for block in blocks {
            let type = try block.requiredString("type")
            switch type {
            case "text":
                text += try block.requiredString("text")
                sawText = true
            case "tool_use":
                let input = try block.object("input") ?? JSONObject()
                calls.append([
                    "id": .string(try block.requiredString("id")),
                    "type": "function",
                    "function": ["name": .string(try block.requiredString("name")), "arguments": .string(input.serialized)],
                ])
            case "thinking", "redacted_thinking":
                continue
            default:
                throw block.unsupported("type", "`\(type)` content cannot be sent to OpenAI models.")
            }
        }
        var message: JSONObject = ["role": "assistant", "content": sawText ? .string(text) : .null]
        if !calls.isEmpty { message["tool_calls"] = .array(calls) }
        return message
    }

    // MARK: Tools

    static func tool(_ tool: Fields) throws(TranslationError) -> JSONObject {
        if let type = try tool.string("type"), type != "custom" {
            throw tool.unsupported("type", "`\(type)` tools are not available for OpenAI models.")
        }
        var function = JSONObject()
        function["name"] = .string(try tool.requiredString("name"))
        if let description = try tool.string("description") { function["description"] = .string(description) }
        function["parameters"] = .object(try tool.object("input_schema") ?? ["type": "object", "properties": [:]])
        return ["type": "function", "function": .object(function)]
    }

    static func toolChoice(_ choice: Fields) throws(TranslationError) -> JSON? {
        switch try choice.requiredString("type") {
        case "auto": return "auto"
        case "none": return "none"
        case "any": return "required"
        case "tool": return ["type": "function", "function": ["name": .string(try choice.requiredString("name"))]]
        default: throw choice.unsupported("type", "must be auto, any, tool or none.")
        }
    }
}
