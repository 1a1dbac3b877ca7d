// Anthropic message events → OpenAI chat.completion.chunk events.

/// The state of one Anthropic stream being rewritten as OpenAI chunks.
struct AnthropicToOpenAIStream: Sendable {
    private(set) var completed = false
    private var id = ""
    private var model = ""
    private let created: Int
    private var usage = UsageCounts()
    /// Anthropic content block index → OpenAI tool call index.
    private var toolIndexes: [Int: Int] = [:]
    private var sentFinish = false

    init(created: Int = ResponseTranslation.currentTime()) {
        self.created = created
    }

    mutating func translate(_ event: SSEMessage) -> [String] {
        guard !completed, let payload = event.jsonObject, let type = payload["type"]?.stringValue else { return [] }
        switch type {
        case "message_start":
            let message = payload["message"]?.objectValue ?? JSONObject()
            id = message["id"]?.stringValue ?? id
            model = message["model"]?.stringValue ?? model
            if let start = message["usage"]?.objectValue { usage = UsageCounts(anthropic: start) }
            return [chunk(delta: ["role": "assistant", "content": ""])]
        case "content_block_start":
            return blockStart(payload)
        case "content_block_delta":
            return blockDelta(payload)
        case "message_delta":
            if let delta = payload["usage"]?.objectValue { mergeUsage(delta) }
            let reason = payload["delta"]?.objectValue?["stop_reason"]?.stringValue
            guard let reason else { return [] }
            sentFinish = true
            return [chunk(delta: [:], finishReason: StopReason.openAI(fromAnthropic: reason))]
        case "message_stop":
            completed = true
            var out: [String] = []
            if !sentFinish { out.append(chunk(delta: [:], finishReason: "stop")) }
            var usageChunk = base()
            usageChunk["choices"] = []
            usageChunk["usage"] = .object(usage.openAI)
            out.append(SSEText.data(usageChunk.serialized))
            out.append(SSEText.data("[DONE]"))
            return out
        case "error":
            let error = ErrorTranslation.streamError(payload, from: .anthropic, to: .openai)
            return [SSEText.data(error.serialized)]
        default:
            return []  // ping, content_block_stop, and events chat completions has no form for
        }
    }

    private mutating func blockStart(_ payload: JSONObject) -> [String] {
        guard let block = payload["content_block"]?.objectValue, let index = payload["index"]?.intValue else { return [] }
        switch block["type"]?.stringValue {
        case "text":
            guard let text = block["text"]?.stringValue, !text.isEmpty else { return [] }
            return [chunk(delta: ["content": .string(text)])]
        case "tool_use":
            let toolIndex = toolIndexes.count
            toolIndexes[index] = toolIndex
            let call: JSON = [
                "index": .int(toolIndex),
                "id": block["id"] ?? "",
                "type": "function",
                "function": ["name": block["name"] ?? "", "arguments": ""],
            ]
            return [chunk(delta: ["tool_calls": [call]])]
        default:
            return []
        }
    }

    private func blockDelta(_ payload: JSONObject) -> [String] {
        guard let delta = payload["delta"]?.objectValue, let index = payload["index"]?.intValue else { return [] }
        switch delta["type"]?.stringValue {
        case "text_delta":
            guard let text = delta["text"]?.stringValue, !text.isEmpty else { return [] }
            return [chunk(delta: ["content": .string(text)])]
        case "input_json_delta":
            guard let toolIndex = toolIndexes[index], let partial = delta["partial_json"]?.stringValue, !partial.isEmpty
            else { return [] }
            let call: JSON = ["index": .int(toolIndex), "function": ["arguments": .string(partial)]]
            return [chunk(delta: ["tool_calls": [call]])]
        default:
            return []  // thinking, signature and citation deltas
        }
    }

    /// `message_delta` usage: output so far, and (in newer API versions) the input counts again.
    private mutating func mergeUsage(_ delta: JSONObject) {
        let counts = UsageCounts(anthropic: delta)
        if delta["output_tokens"] != nil { usage.completionTokens = counts.completionTokens }
        if counts.promptTokens > 0 {
            usage.promptTokens = counts.promptTokens
            usage.cacheReadTokens = counts.cacheReadTokens
            usage.cacheCreationTokens = counts.cacheCreationTokens
        }
    }

    private func base() -> JSONObject {
        ["id": .string(id), "object": "chat.completion.chunk", "created": .int(created), "model": .string(model)]
    }

    private func chunk(delta: JSONObject, finishReason: String? = nil) -> String {
        var out = base()
        out["choices"] = [[
            "index": 0,
            "delta": .object(delta),
            "logprobs": .null,
            "finish_reason": finishReason.map(JSON.string) ?? .null,
        ]]
        return SSEText.data(out.serialized)
    }
}
