// OpenAI chat.completion.chunk events → Anthropic message events.

/// The state of one OpenAI stream being rewritten as Anthropic message events.
struct OpenAIToAnthropicStream: Sendable {
    /// The content block open now.
    private enum OpenBlock: Equatable, Sendable {
        case none
        case text(index: Int)
        case tool(index: Int, openAIIndex: Int)

        var index: Int? {
            switch self {
            case .none: return nil
            case .text(let index), .tool(let index, _): return index
            }
        }
    }

    private(set) var completed = false
    private var started = false
    private var open = OpenBlock.none
    private var nextBlock = 0
    /// OpenAI tool call index → Anthropic content block index.
    private var toolBlocks: [Int: Int] = [:]
    private var stopReason: String?
    private var usage = UsageCounts()

    mutating func translate(_ event: SSEMessage) -> [String] {
        guard !completed, let data = event.data else { return [] }
        if data.trimmingSpaces == "[DONE]" { return finish() }
        guard let chunk = (try? JSON.parse(data))?.objectValue else { return [] }
        if let error = chunk["error"]?.objectValue {
            let payload = ErrorTranslation.streamError(["error": .object(error)], from: .openai, to: .anthropic)
            return [SSEText.event("error", payload)]
        }
        var out: [String] = []
        if !started { out.append(start(chunk)) }
        if let usage = chunk["usage"]?.objectValue { self.usage = UsageCounts(openAI: usage) }
        guard let choice = chunk["choices"]?.arrayValue?.first?.objectValue else { return out }
        let delta = choice["delta"]?.objectValue ?? JSONObject()
        for key in ["content", "refusal"] {
            if let text = delta[key]?.stringValue, !text.isEmpty { out += self.text(text) }
        }
        for call in delta["tool_calls"]?.arrayValue ?? [] {
            if let call = call.objectValue { out += toolCall(call) }
        }
        if let reason = choice["finish_reason"]?.stringValue {
            stopReason = StopReason.anthropic(fromOpenAI: reason)
            out += closeBlock()
        }
        return out
    }

    private mutating func start(_ chunk: JSONObject) -> String {
        started = true
        // Input counts come with the last chunk; they are repeated in `message_delta`.
        let message: JSON = [
            "id": chunk["id"] ?? "",
            "type": "message",
            "role": "assistant",
            "model": chunk["model"] ?? "",
            "content": [],
            "stop_reason": .null,
            "stop_sequence": .null,
            "usage": ["input_tokens": 0, "output_tokens": 0],
        ]
        return SSEText.event("message_start", ["type": "message_start", "message": message])
    }

    private mutating func text(_ text: String) -> [String] {
        var out: [String] = []
        let index: Int
        if case .text(let current) = open {
            index = current
        } else {
            out += closeBlock()
            index = openBlock(["type": "text", "text": ""], into: &out)
            open = .text(index: index)
        }
        out.append(SSEText.event("content_block_delta", [
            "type": "content_block_delta", "index": .int(index), "delta": ["type": "text_delta", "text": .string(text)],
        ]))
        return out
    }

    private mutating func toolCall(_ call: JSONObject) -> [String] {
        var out: [String] = []
        let openAIIndex = call["index"]?.intValue ?? 0
        let function = call["function"]?.objectValue ?? JSONObject()
        var blockIndex = toolBlocks[openAIIndex]
        if blockIndex == nil {
            out += closeBlock()
            let block: JSON = [
                "type": "tool_use",
                "id": .string(ToolCallID.anthropic(call["id"]?.stringValue ?? "call_\(openAIIndex)")),
                "name": function["name"] ?? "",
                "input": [:],
            ]
            let index = openBlock(block, into: &out)
            toolBlocks[openAIIndex] = index
            open = .tool(index: index, openAIIndex: openAIIndex)
            blockIndex = index
        }
        if let arguments = function["arguments"]?.stringValue, !arguments.isEmpty, let blockIndex {
            out.append(SSEText.event("content_block_delta", [
                "type": "content_block_delta", "index": .int(blockIndex),
                "delta": ["type": "input_json_delta", "partial_json": .string(arguments)],
            ]))
        }
        return out
    }

    private mutating func openBlock(_ block: JSON, into out: inout [String]) -> Int {
        let index = nextBlock
        nextBlock += 1
        out.append(SSEText.event("content_block_start", ["type": "content_block_start", "index": .int(index), "content_block": block]))
        return index
    }

    private mutating func closeBlock() -> [String] {
        guard let index = open.index else { return [] }
        open = .none
        return [SSEText.event("content_block_stop", ["type": "content_block_stop", "index": .int(index)])]
    }

    private mutating func finish() -> [String] {
        completed = true
        var out: [String] = []
        if !started { out.append(start([:])) }
        out += closeBlock()
        out.append(SSEText.event("message_delta", [
            "type": "message_delta",
            "delta": ["stop_reason": .string(stopReason ?? "end_turn"), "stop_sequence": .null],
            "usage": .object(usage.anthropic),
        ]))
        out.append(SSEText.event("message_stop", ["type": "message_stop"]))
        return out
    }
}

extension String {
    /// The text without leading and trailing spaces.
    var trimmingSpaces: Substring {
        var view = self[...]
        while view.first == " " { view = view.dropFirst() }
        while view.last == " " { view = view.dropLast() }
        return view
    }
}
