// The small shared mappings: stop reasons and usage objects, both ways.

/// Stop reasons: Anthropic `stop_reason` ⇄ OpenAI `finish_reason`.
enum StopReason {
    static func openAI(fromAnthropic reason: String?) -> String {
        switch reason {
        case "max_tokens", "model_context_window_exceeded": return "length"
        case "tool_use": return "tool_calls"
        case "refusal": return "content_filter"
        default: return "stop"  // end_turn, stop_sequence, pause_turn
        }
    }

    static func anthropic(fromOpenAI reason: String?) -> String {
        switch reason {
        case "length": return "max_tokens"
        case "tool_calls", "function_call": return "tool_use"
        case "content_filter": return "refusal"
        default: return "end_turn"
        }
    }
}

/// Token counts read from either family's usage object, and written in either shape.
struct UsageCounts: Equatable {
    /// Every prompt token, cached ones included.
    var promptTokens = 0
    var completionTokens = 0
    /// Prompt tokens read from the cache.
    var cacheReadTokens = 0
    /// Prompt tokens written to the cache (Anthropic only; part of `promptTokens`).
    var cacheCreationTokens = 0

    init(promptTokens: Int = 0, completionTokens: Int = 0, cacheReadTokens: Int = 0, cacheCreationTokens: Int = 0) {
        self.promptTokens = promptTokens
        self.completionTokens = completionTokens
        self.cacheReadTokens = cacheReadTokens
        self.cacheCreationTokens = cacheCreationTokens
    }

    /// A count a provider sent, as a count: never negative, and far from `Int`'s limits so
    /// sums cannot overflow (a hostile or broken upstream must not crash the sidecar).
    static func count(_ value: JSON?) -> Int {
        min(max(value?.intValue ?? 0, 0), Int(Int32.max))
    }

    init(openAI usage: JSONObject) {
        promptTokens = Self.count(usage["prompt_tokens"])
        completionTokens = Self.count(usage["completion_tokens"])
        cacheReadTokens = Self.count(usage["prompt_tokens_details"]?.objectValue?["cached_tokens"])
    }

    /// Anthropic's `input_tokens` leaves out the cached parts; `prompt_tokens` includes them.
    init(anthropic usage: JSONObject) {
        cacheReadTokens = Self.count(usage["cache_read_input_tokens"])
        cacheCreationTokens = Self.count(usage["cache_creation_input_tokens"])
        promptTokens = Self.count(usage["input_tokens"]) + cacheReadTokens + cacheCreationTokens
        completionTokens = Self.count(usage["output_tokens"])
    }

    var openAI: JSONObject {
        [
            "prompt_tokens": .int(promptTokens),
            "completion_tokens": .int(completionTokens),
            "total_tokens": .int(promptTokens + completionTokens),
            "prompt_tokens_details": ["cached_tokens": .int(cacheReadTokens)],
        ]
    }

    var anthropic: JSONObject {
        [
            "input_tokens": .int(max(0, promptTokens - cacheReadTokens - cacheCreationTokens)),
            "cache_creation_input_tokens": .int(cacheCreationTokens),
            "cache_read_input_tokens": .int(cacheReadTokens),
            "output_tokens": .int(completionTokens),
        ]
    }
}
