// An OpenAI chat completions request rewritten as an Anthropic messages request.

/// Builds an Anthropic `POST /v1/messages` body from an OpenAI chat completions body.
enum OpenAIToAnthropicRequest {
    /// Anthropic requires `max_tokens`; OpenAI requests may omit it.
    static let defaultMaxTokens = 4096

    static func translate(_ body: JSONObject, model: String) throws(TranslationError) -> JSON {
        let request = Fields(body)
        try rejectUnsupported(request)
        var out = JSONObject()
        out["model"] = .string(model)
        let maxCompletionTokens = try request.int("max_completion_tokens")
        let maxTokens = try request.int("max_tokens")
        out["max_tokens"] = .int(maxCompletionTokens ?? maxTokens ?? defaultMaxTokens)

        guard let messages = try request.objects("messages") else {
            throw TranslationError(message: "`messages` is required.", param: "messages")
        }
        let (system, turns) = try conversation(messages)
        if let system { out["system"] = system }
        out["messages"] = .array(turns.map { .object($0) })

        if let stop = request.value("stop") {
            switch stop {
            case .string(let sequence): out["stop_sequences"] = [.string(sequence)]
            case .array(let sequences) where sequences.allSatisfy({ $0.stringValue != nil }):
                if !sequences.isEmpty { out["stop_sequences"] = .array(sequences) }
            default: throw request.wrongType("stop", "a string or an array of strings")
            }
        }
        if let temperature = try request.number("temperature") { out["temperature"] = temperature }
        if let topP = try request.number("top_p") { out["top_p"] = topP }
        let safetyIdentifier = try request.string("safety_identifier")
        if let user = try request.string("user") ?? safetyIdentifier {
            out["metadata"] = ["user_id": .string(user)]
        }
        if try request.bool("stream") == true { out["stream"] = true }

        if let tools = try request.objects("tools"), !tools.isEmpty {
            var translated: [JSON] = []
            for tool in tools { translated.append(.object(try self.tool(tool))) }
            out["tools"] = .array(translated)
            let parallel = try request.bool("parallel_tool_calls")
            if let choice = try toolChoice(request, disableParallel: parallel == false) { out["tool_choice"] = .object(choice) }
        }
        return .object(out)
    }

    /// Fields whose meaning Anthropic cannot reproduce.
    static func rejectUnsupported(_ request: Fields) throws(TranslationError) {
        if let n = try request.int("n"), n != 1 {
            throw request.unsupported("n", "must be 1: Anthropic models return one choice.")
        }
        if try request.bool("logprobs") == true {
            throw request.unsupported("logprobs", "is not available from Anthropic models.")
        }
        if request.value("top_logprobs") != nil {
            throw request.unsupported("top_logprobs", "is not available from Anthropic models.")
        }
        if let bias = try request.object("logit_bias"), !bias.isEmpty {
            throw request.unsupported("logit_bias", "is not available for Anthropic models.")
        }
        if let format = try request.object("response_format"),
           try Fields(format, path: "response_format").string("type") != "text" {
            throw request.unsupported("response_format", "other than `text` is not available for Anthropic models.")
        }
        let modalities = try request.array("modalities") ?? []
        if request.value("audio") != nil || modalities.contains(where: { $0.stringValue == "audio" }) {
            throw request.unsupported("modalities", "with audio output is not available from Anthropic models.")
        }
        for key in ["frequency_penalty", "presence_penalty"] {
            if let penalty = try request.double(key), penalty != 0 {
                throw request.unsupported(key, "is not available for Anthropic models.")
            }
        }
        if let temperature = try request.double("temperature"), temperature > 1 {
            throw request.unsupported("temperature", "must be between 0 and 1 for Anthropic models.")
        }
        for key in ["functions", "function_call"] where request.value(key) != nil {
            throw request.unsupported(key, "is deprecated and not translated; use `tools` and `tool_choice`.")
        }
        if request.value("web_search_options") != nil {
            throw request.unsupported("web_search_options", "is not available for Anthropic models.")
        }
    }

    // MARK: Messages

    /// The system prompt and the user/assistant turns (consecutive same-role turns merged).
    static func conversation(_ messages: [Fields]) throws(TranslationError) -> (JSON?, [JSONObject]) {
        var systemBlocks: [JSON] = []
        var turns: [(role: String, blocks: [JSON])] = []
        func append(_ role: String, _ blocks: [JSON]) {
            guard !blocks.isEmpty else { return }
            if let last = turns.last, last.role == role {
                turns[turns.count - 1].blocks += blocks
            } else {
                turns.append((role: role, blocks: blocks))
            }
        }
        for message in messages {
            let role = try message.requiredString("role")
            switch role {
            case "system", "developer":
                systemBlocks += try textBlocks(message, key: "content", allowRefusal: false)
            case "user":
                append("user", try userBlocks(message))
            case "assistant":
                append("assistant", try assistantBlocks(message))
            case "tool":
                append("user", [try toolResult(message)])
            default:
                throw message.unsupported("role", "`\(role)` cannot be translated for Anthropic models.")
            }
        }
        let system: JSON?
        switch systemBlocks.count {
        case 0: system = nil
        case 1: system = systemBlocks[0].objectValue?["text"]
        default: system = .array(systemBlocks)
        }
        let out = turns.map { turn -> JSONObject in ["role": .string(turn.role), "content": .array(turn.blocks)] }
        return (system, out)
    }

    /// Text blocks from a string or an array of text (and refusal) parts.
    static func textBlocks(_ message: Fields, key: String, allowRefusal: Bool) throws(TranslationError) -> [JSON] {
        guard let content = message.value(key) else { return [] }
        if let text = content.stringValue { return [["type": "text", "text": .string(text)]] }
        guard let parts = try message.objects(key) else { throw message.wrongType(key, "a string or an array") }
        var blocks: [JSON] = []
        for part in parts {
            let type = try part.requiredString("type")
            switch type {
            case "text": blocks.append(["type": "text", "text": .string(try part.requiredString("text"))])
            case "refusal" where allowRefusal:
                blocks.append(["type": "text", "text": .string(try part.requiredString("refusal"))])
            default: throw part.unsupported("type", "`\(type)` is not allowed here.")
            }
        }
        return blocks
    }

    static func userBlocks(_ message: Fields) throws(TranslationError) -> [JSON] {
        guard let content = message.value("content") else { throw message.wrongType("content", "a string or an array") }
        if let text = content.stringValue { return [["type": "text", "text": .string(text)]] }
        guard let parts = try message.objects("content") else { return [] }
        var blocks: [JSON] = []
        for part in parts {
            let type = try part.requiredString("type")
            switch type {
            case "text": blocks.append(["type": "text", "text": .string(try part.requiredString("text"))])
            case "image_url": blocks.append(try image(part))
            default: throw part.unsupported("type", "`\(type)` content cannot be sent to Anthropic models.")
            }
        }
        return blocks
    }

    /// `image_url` part → `image` block: data URL → base64 source, http(s) URL → url source.
    static func image(_ part: Fields) throws(TranslationError) -> JSON {
        guard let imageURL = try part.object("image_url") else { throw part.wrongType("image_url", "an object") }
        let holder = Fields(imageURL, path: part.param("image_url"))
        let url = try holder.requiredString("url")
        if let source = DataURL(url) {
            return ["type": "image", "source": ["type": "base64", "media_type": .string(source.mediaType), "data": .string(source.data)]]
        }
        let lowered = url.lowercased()
        if lowered.hasPrefix("https://") || lowered.hasPrefix("http://") {
            return ["type": "image", "source": ["type": "url", "url": .string(url)]]
        }
        throw holder.unsupported("url", "must be a base64 data URL or an http(s) URL.")
    }

    static func assistantBlocks(_ message: Fields) throws(TranslationError) -> [JSON] {
        var blocks = try textBlocks(message, key: "content", allowRefusal: true).filter {
            $0.objectValue?["text"]?.stringValue?.isEmpty == false
        }
        if let refusal = try message.string("refusal"), !refusal.isEmpty, blocks.isEmpty {
            blocks.append(["type": "text", "text": .string(refusal)])
        }
        for call in try message.objects("tool_calls") ?? [] {
            if let type = try call.string("type"), type != "function" {
                throw call.unsupported("type", "`\(type)` tool calls cannot be sent to Anthropic models.")
            }
            guard let function = try call.object("function") else { throw call.wrongType("function", "an object") }
            let fields = Fields(function, path: call.param("function"))
            let arguments = try fields.string("arguments") ?? ""
            let input: JSONObject
            if arguments.allSatisfy(\.isWhitespace) {
                input = JSONObject()
            } else if let parsed = try? JSON.parse(arguments), let object = parsed.objectValue {
                input = object
            } else {
                throw fields.unsupported("arguments", "must be a JSON object to be sent to Anthropic models.")
            }
            blocks.append([
                "type": "tool_use",
                "id": .string(ToolCallID.anthropic(try call.requiredString("id"))),
                "name": .string(try fields.requiredString("name")),
                "input": .object(input),
            ])
        }
        return blocks
    }

    static func toolResult(_ message: Fields) throws(TranslationError) -> JSON {
        let id = ToolCallID.anthropic(try message.requiredString("tool_call_id"))
        let content: JSON
        switch message.value("content") {
        case nil: content = ""
        case .string(let text)?: content = .string(text)
        default: content = .array(try textBlocks(message, key: "content", allowRefusal: false))
        }
        return ["type": "tool_result", "tool_use_id": .string(id), "content": content]
    }

    // MARK: Tools

    static func tool(_ tool: Fields) throws(TranslationError) -> JSONObject {
        if let type = try tool.string("type"), type != "function" {
            throw tool.unsupported("type", "`\(type)` tools cannot be sent to Anthropic models.")
        }
        guard let function = try tool.object("function") else { throw tool.wrongType("function", "an object") }
        let fields = Fields(function, path: tool.param("function"))
        var out = JSONObject()
        out["name"] = .string(try fields.requiredString("name"))
        if let description = try fields.string("description") { out["description"] = .string(description) }
        out["input_schema"] = .object(try fields.object("parameters") ?? ["type": "object", "properties": [:]])
        return out
    }

    static func toolChoice(_ request: Fields, disableParallel: Bool) throws(TranslationError) -> JSONObject? {
        var choice: JSONObject
        switch request.value("tool_choice") {
        case nil:
            guard disableParallel else { return nil }
            choice = ["type": "auto"]
        case .string("auto")?: choice = ["type": "auto"]
        case .string("none")?: return ["type": "none"]
        case .string("required")?: choice = ["type": "any"]
        case .object(let object)?:
            let fields = Fields(object, path: "tool_choice")
            guard try fields.string("type") == "function", let function = try fields.object("function") else {
                throw request.unsupported("tool_choice", "must be auto, none, required or a named function for Anthropic models.")
            }
            let name = try Fields(function, path: "tool_choice.function").requiredString("name")
            choice = ["type": "tool", "name": .string(name)]
        default:
            throw request.unsupported("tool_choice", "must be auto, none, required or a named function for Anthropic models.")
        }
        if disableParallel { choice["disable_parallel_tool_use"] = true }
        return choice
    }
}
