import Foundation
import NIOCore
import SluiceWire

/// Provider-shaped bodies of complete (non-streaming) responses and errors.
enum Bodies {
    static func openAIUsage(_ plan: GenerationPlan) -> String {
        let prompt = plan.inputTokens + plan.cachedTokens
        return """
            {"prompt_tokens":\(prompt),"completion_tokens":\(plan.outputTokens),"total_tokens":\(prompt + plan.outputTokens),\
            "prompt_tokens_details":{"cached_tokens":\(plan.cachedTokens)},"completion_tokens_details":{"reasoning_tokens":0}}
            """
    }

    static func responsesUsage(_ plan: GenerationPlan) -> String {
        let input = plan.inputTokens + plan.cachedTokens
        return """
            {"input_tokens":\(input),"input_tokens_details":{"cached_tokens":\(plan.cachedTokens)},\
            "output_tokens":\(plan.outputTokens),"output_tokens_details":{"reasoning_tokens":0},\
            "total_tokens":\(input + plan.outputTokens)}
            """
    }

    static func anthropicUsage(_ plan: GenerationPlan, outputTokens: Int) -> String {
        """
        {"input_tokens":\(plan.inputTokens),"cache_creation_input_tokens":0,\
        "cache_read_input_tokens":\(plan.cachedTokens),"output_tokens":\(outputTokens)}
        """
    }

    static func openAIFinishReason(_ plan: GenerationPlan) -> String { plan.truncated ? "length" : "stop" }
    static func anthropicStopReason(_ plan: GenerationPlan) -> String { plan.truncated ? "max_tokens" : "end_turn" }

    static func body(_ plan: GenerationPlan) -> String {
        switch plan.endpoint {
        case .chatCompletions: return self.chatCompletion(plan)
        case .completions: return self.completion(plan)
        case .embeddings: return self.embeddings(plan)
        case .responses: return self.response(plan, status: "completed", output: self.responseOutput(plan), usage: self.responsesUsage(plan))
        case .messages: return self.message(plan)
        case .countTokens: return "{\"input_tokens\":\(plan.inputTokens)}"
        }
    }

    static func chatCompletion(_ plan: GenerationPlan) -> String {
        let text = JSONText.quoted(plan.tokens.text(count: plan.outputTokens))
        return """
            {"id":"chatcmpl-\(plan.idSuffix)","object":"chat.completion","created":\(plan.created),\
            "model":\(JSONText.quoted(plan.model)),"choices":[{"index":0,"message":{"role":"assistant",\
            "content":\(text),"refusal":null,"annotations":[]},"logprobs":null,\
            "finish_reason":"\(self.openAIFinishReason(plan))"}],"usage":\(self.openAIUsage(plan)),\
            "service_tier":"default","system_fingerprint":"fp_mock"}
            """
    }

    static func completion(_ plan: GenerationPlan) -> String {
        let text = JSONText.quoted(plan.tokens.text(count: plan.outputTokens))
        return """
            {"id":"cmpl-\(plan.idSuffix)","object":"text_completion","created":\(plan.created),\
            "model":\(JSONText.quoted(plan.model)),"choices":[{"text":\(text),"index":0,"logprobs":null,\
            "finish_reason":"\(self.openAIFinishReason(plan))"}],"usage":\(self.openAIUsage(plan)),\
            "system_fingerprint":"fp_mock"}
            """
    }

    static func embeddings(_ plan: GenerationPlan) -> String {
        var out = "{\"object\":\"list\",\"data\":["
        for (index, input) in plan.embeddingInputs.enumerated() {
            if index > 0 { out += "," }
            out += "{\"object\":\"embedding\",\"index\":\(index),\"embedding\":"
            var values: [Float] = []
            values.reserveCapacity(plan.dimensions)
            for dimension in 0..<plan.dimensions {
                let raw = Hashing.mix(input.hash &+ UInt64(dimension)) % 20001
                values.append(Float(Int(raw) - 10000) / 10000)
            }
            if plan.base64Embeddings {
                var bytes: [UInt8] = []
                bytes.reserveCapacity(values.count * 4)
                for value in values {
                    let bits = value.bitPattern.littleEndian
                    withUnsafeBytes(of: bits) { bytes.append(contentsOf: $0) }
                }
                out += "\"" + Data(bytes).base64EncodedString() + "\""
            } else {
                out += "[" + values.map { "\($0)" }.joined(separator: ",") + "]"
            }
            out += "}"
        }
        let tokens = plan.embeddingInputs.reduce(0) { $0 + $1.tokens }
        out += "],\"model\":\(JSONText.quoted(plan.model)),\"usage\":{\"prompt_tokens\":\(tokens),\"total_tokens\":\(tokens)}}"
        return out
    }

    static func responseMessageItem(_ plan: GenerationPlan, status: String, content: String) -> String {
        """
        {"id":"msg_\(plan.idSuffix)","type":"message","status":"\(status)","content":\(content),"role":"assistant"}
        """
    }

    static func outputTextPart(_ text: String) -> String {
        "{\"type\":\"output_text\",\"annotations\":[],\"logprobs\":[],\"text\":\(JSONText.quoted(text))}"
    }

    static func responseOutput(_ plan: GenerationPlan) -> String {
        let part = self.outputTextPart(plan.tokens.text(count: plan.outputTokens))
        return "[" + self.responseMessageItem(plan, status: "completed", content: "[" + part + "]") + "]"
    }

    /// An OpenAI Responses API `response` object.
    static func response(_ plan: GenerationPlan, status: String, output: String, usage: String?) -> String {
        let maxOutput = plan.requestedMaxTokens.map(String.init) ?? "null"
        return """
            {"id":"resp_\(plan.idSuffix)","object":"response","created_at":\(plan.created),"status":"\(status)",\
            "background":false,"error":null,"incomplete_details":null,"instructions":null,\
            "max_output_tokens":\(maxOutput),"model":\(JSONText.quoted(plan.model)),"output":\(output),\
            "parallel_tool_calls":true,"previous_response_id":null,"reasoning":{"effort":null,"summary":null},\
            "service_tier":"default","store":true,"temperature":1.0,"text":{"format":{"type":"text"}},\
            "tool_choice":"auto","tools":[],"top_p":1.0,"truncation":"disabled","usage":\(usage ?? "null"),\
            "user":null,"metadata":{}}
            """
    }

    static func message(_ plan: GenerationPlan) -> String {
        let text = JSONText.quoted(plan.tokens.text(count: plan.outputTokens))
        return """
            {"id":"msg_\(plan.idSuffix)","type":"message","role":"assistant","model":\(JSONText.quoted(plan.model)),\
            "content":[{"type":"text","text":\(text)}],"stop_reason":"\(self.anthropicStopReason(plan))",\
            "stop_sequence":null,"usage":\(self.anthropicUsage(plan, outputTokens: plan.outputTokens))}
            """
    }

    /// A provider-shaped error body for `status`. The message ends with
    /// `(mock; request ID <requestID>)`, the id the response's request-id header carries, so a
    /// test can tell the mock's error from one Sluice wrote, and one request's from another's.
    static func error(flavor: ProviderFlavor, status: Int, requestID: String, message: String? = nil) -> String {
        let marker = " (mock; request ID \(requestID))"
        switch flavor {
        case .openAI:
            let type: String
            var code = "null"
            var text: String
            switch status {
            case 400:
                type = "invalid_request_error"
                text = "We could not parse the JSON body of your request."
            case 401:
                type = "invalid_request_error"
                code = "\"invalid_api_key\""
                text = "Incorrect API key provided."
            case 404:
                type = "invalid_request_error"
                text = "Invalid URL."
            case 429:
                type = "requests"
                code = "\"rate_limit_exceeded\""
                text = "Rate limit reached for requests."
            case 503:
                type = "server_error"
                text = "The server is overloaded or not ready yet."
            default:
                type = status >= 500 ? "server_error" : "invalid_request_error"
                text = "The server had an error while processing your request."
            }
            if let message { text = message }
            return """
                {"error":{"message":\(JSONText.quoted(text + marker)),"type":"\(type)","param":null,"code":\(code)}}
                """
        case .anthropic:
            let type: String
            switch status {
            case 400: type = "invalid_request_error"
            case 401: type = "authentication_error"
            case 403: type = "permission_error"
            case 404: type = "not_found_error"
            case 413: type = "request_too_large"
            case 429: type = "rate_limit_error"
            case 503, 529: type = "overloaded_error"
            default: type = status >= 500 ? "api_error" : "invalid_request_error"
            }
            let text = message ?? type.replacingOccurrences(of: "_", with: " ")
            return """
                {"type":"error","error":{"type":"\(type)","message":\(JSONText.quoted(text + marker))}}
                """
        }
    }
}

/// The events of one streamed response, rendered on demand from byte templates.
///
/// Events are numbered: a preamble (sent with the head), `contentCount` content events (one per
/// token, paced), then an epilogue (sent right after the last content event).
final class StreamScript {
    let plan: GenerationPlan
    let preambleCount: Int
    let contentCount: Int
    let epilogueCount: Int
    var total: Int { self.preambleCount + self.contentCount + self.epilogueCount }

    private let preamble: [String]
    private let contentPrefix: ByteBuffer
    /// Between the sequence number and the token (Responses API only).
    private let contentMiddle: ByteBuffer?
    private let contentSuffix: ByteBuffer
    private var epilogue: [String]?

    init(plan: GenerationPlan, allocator: ByteBufferAllocator) {
        self.plan = plan
        self.contentCount = plan.outputTokens
        let model = JSONText.quoted(plan.model)
        let usageNull = plan.includeUsage ? ",\"usage\":null" : ""
        var prefix: String
        var middle: String?
        var suffix: String
        switch plan.endpoint {
        case .chatCompletions:
            let common = """
                {"id":"chatcmpl-\(plan.idSuffix)","object":"chat.completion.chunk","created":\(plan.created),\
                "model":\(model),"service_tier":"default","system_fingerprint":"fp_mock",
                """
            self.preamble = [
                "data: " + common
                    + "\"choices\":[{\"index\":0,\"delta\":{\"role\":\"assistant\",\"content\":\"\",\"refusal\":null},"
                    + "\"logprobs\":null,\"finish_reason\":null}]" + usageNull + "}\n\n"
            ]
            prefix = "data: " + common + "\"choices\":[{\"index\":0,\"delta\":{\"content\":\""
            suffix = "\"},\"logprobs\":null,\"finish_reason\":null}]" + usageNull + "}\n\n"
            self.epilogueCount = plan.includeUsage ? 3 : 2
        case .completions:
            let common = """
                {"id":"cmpl-\(plan.idSuffix)","object":"text_completion","created":\(plan.created),\
                "model":\(model),"system_fingerprint":"fp_mock",
                """
            self.preamble = []
            prefix = "data: " + common + "\"choices\":[{\"text\":\""
            suffix = "\",\"index\":0,\"logprobs\":null,\"finish_reason\":null}]" + usageNull + "}\n\n"
            self.epilogueCount = plan.includeUsage ? 3 : 2
        case .responses:
            let inProgress = Bodies.response(plan, status: "in_progress", output: "[]", usage: nil)
            let item = Bodies.responseMessageItem(plan, status: "in_progress", content: "[]")
            self.preamble = [
                Self.named("response.created", "{\"type\":\"response.created\",\"sequence_number\":0,\"response\":\(inProgress)}"),
                Self.named("response.in_progress", "{\"type\":\"response.in_progress\",\"sequence_number\":1,\"response\":\(inProgress)}"),
                Self.named(
                    "response.output_item.added",
                    "{\"type\":\"response.output_item.added\",\"sequence_number\":2,\"output_index\":0,\"item\":\(item)}"
                ),
                Self.named(
                    "response.content_part.added",
                    "{\"type\":\"response.content_part.added\",\"sequence_number\":3,\"item_id\":\"msg_\(plan.idSuffix)\","
                        + "\"output_index\":0,\"content_index\":0,\"part\":\(Bodies.outputTextPart(""))}"
                ),
            ]
            prefix = "event: response.output_text.delta\ndata: {\"type\":\"response.output_text.delta\",\"sequence_number\":"
            middle = ",\"item_id\":\"msg_\(plan.idSuffix)\",\"output_index\":0,\"content_index\":0,\"delta\":\""
            suffix = "\",\"logprobs\":[]}\n\n"
            self.epilogueCount = 4
        case .messages:
            let start = """
                {"type":"message_start","message":{"id":"msg_\(plan.idSuffix)","type":"message","role":"assistant",\
                "model":\(model),"content":[],"stop_reason":null,"stop_sequence":null,\
                "usage":\(Bodies.anthropicUsage(plan, outputTokens: Self.anthropicStartOutputTokens))}}
                """
            self.preamble = [
                Self.named("message_start", start),
                Self.named("content_block_start", "{\"type\":\"content_block_start\",\"index\":0,\"content_block\":{\"type\":\"text\",\"text\":\"\"}}"),
                Self.named("ping", "{\"type\":\"ping\"}"),
            ]
            prefix = "event: content_block_delta\ndata: {\"type\":\"content_block_delta\",\"index\":0,\"delta\":{\"type\":\"text_delta\",\"text\":\""
            suffix = "\"}}\n\n"
            self.epilogueCount = 3
        case .embeddings, .countTokens:
            // Not streamable; the handler never builds a script for these.
            self.preamble = []
            prefix = ""
            suffix = ""
            self.epilogueCount = 0
        }
        self.preambleCount = self.preamble.count
        self.contentPrefix = allocator.buffer(string: prefix)
        self.contentMiddle = middle.map { allocator.buffer(string: $0) }
        self.contentSuffix = allocator.buffer(string: suffix)
    }

    /// The output count an Anthropic `message_start` reports (as the real API does).
    static let anthropicStartOutputTokens = 1

    /// What event `index` adds to the usage the response has reported so far; nil when it
    /// carries no usage. Summed over every event, it is the plan's reported usage.
    func usageChange(at index: Int) -> ReportedUsage? {
        let plan = self.plan
        let epilogueStart = self.preambleCount + self.contentCount
        switch plan.endpoint {
        case .chatCompletions, .completions:
            // Epilogue: the finish chunk, the usage chunk (when asked for), [DONE].
            guard plan.includeUsage, index == epilogueStart + 1 else { return nil }
            return plan.reportedUsage
        case .responses:
            // response.completed, the last event, carries the usage.
            guard index == self.total - 1 else { return nil }
            return plan.reportedUsage
        case .messages:
            if index == 0 {
                return ReportedUsage(input: plan.inputTokens, cached: plan.cachedTokens, output: Self.anthropicStartOutputTokens)
            }
            // message_delta, after content_block_stop, states the final output count.
            guard index == epilogueStart + 1 else { return nil }
            return ReportedUsage(input: 0, cached: 0, output: plan.outputTokens - Self.anthropicStartOutputTokens)
        case .embeddings, .countTokens:
            return nil
        }
    }

    private static func named(_ name: String, _ json: String) -> String {
        "event: " + name + "\ndata: " + json + "\n\n"
    }

    /// Event `index` (0 ..< total) as bytes.
    func event(_ index: Int, allocator: ByteBufferAllocator) -> ByteBuffer {
        if index < self.preambleCount {
            return allocator.buffer(string: self.preamble[index])
        }
        let contentIndex = index - self.preambleCount
        if contentIndex < self.contentCount {
            let piece = self.plan.tokens.piece(contentIndex)
            var buffer = allocator.buffer(
                capacity: self.contentPrefix.readableBytes + (self.contentMiddle?.readableBytes ?? 0)
                    + self.contentSuffix.readableBytes + piece.utf8.count + 12
            )
            buffer.writeImmutableBuffer(self.contentPrefix)
            if let middle = self.contentMiddle {
                buffer.writeString(String(index))
                buffer.writeImmutableBuffer(middle)
            }
            buffer.writeString(piece)
            buffer.writeImmutableBuffer(self.contentSuffix)
            return buffer
        }
        let epilogue = self.epilogue ?? self.makeEpilogue()
        self.epilogue = epilogue
        let epilogueIndex = contentIndex - self.contentCount
        guard epilogueIndex < epilogue.count else { return allocator.buffer(capacity: 0) }
        return allocator.buffer(string: epilogue[epilogueIndex])
    }

    private func makeEpilogue() -> [String] {
        let plan = self.plan
        let model = JSONText.quoted(plan.model)
        let usageNull = plan.includeUsage ? ",\"usage\":null" : ""
        switch plan.endpoint {
        case .chatCompletions:
            let common = """
                data: {"id":"chatcmpl-\(plan.idSuffix)","object":"chat.completion.chunk","created":\(plan.created),\
                "model":\(model),"service_tier":"default","system_fingerprint":"fp_mock",
                """
            var events = [
                common + "\"choices\":[{\"index\":0,\"delta\":{},\"logprobs\":null,\"finish_reason\":\""
                    + Bodies.openAIFinishReason(plan) + "\"}]" + usageNull + "}\n\n"
            ]
            if plan.includeUsage {
                events.append(common + "\"choices\":[],\"usage\":" + Bodies.openAIUsage(plan) + "}\n\n")
            }
            events.append("data: [DONE]\n\n")
            return events
        case .completions:
            let common = """
                data: {"id":"cmpl-\(plan.idSuffix)","object":"text_completion","created":\(plan.created),\
                "model":\(model),"system_fingerprint":"fp_mock",
                """
            var events = [
                common + "\"choices\":[{\"text\":\"\",\"index\":0,\"logprobs\":null,\"finish_reason\":\""
                    + Bodies.openAIFinishReason(plan) + "\"}]" + usageNull + "}\n\n"
            ]
            if plan.includeUsage {
                events.append(common + "\"choices\":[],\"usage\":" + Bodies.openAIUsage(plan) + "}\n\n")
            }
            events.append("data: [DONE]\n\n")
            return events
        case .responses:
            let text = plan.tokens.text(count: plan.outputTokens)
            let part = Bodies.outputTextPart(text)
            let item = Bodies.responseMessageItem(plan, status: "completed", content: "[" + part + "]")
            let itemRef = "\"item_id\":\"msg_\(plan.idSuffix)\",\"output_index\":0,\"content_index\":0"
            let first = self.preambleCount + self.contentCount
            let completed = Bodies.response(plan, status: "completed", output: "[" + item + "]", usage: Bodies.responsesUsage(plan))
            return [
                Self.named(
                    "response.output_text.done",
                    "{\"type\":\"response.output_text.done\",\"sequence_number\":\(first),\(itemRef),"
                        + "\"text\":\(JSONText.quoted(text)),\"logprobs\":[]}"
                ),
                Self.named(
                    "response.content_part.done",
                    "{\"type\":\"response.content_part.done\",\"sequence_number\":\(first + 1),\(itemRef),\"part\":\(part)}"
                ),
                Self.named(
                    "response.output_item.done",
                    "{\"type\":\"response.output_item.done\",\"sequence_number\":\(first + 2),\"output_index\":0,\"item\":\(item)}"
                ),
                Self.named(
                    "response.completed",
                    "{\"type\":\"response.completed\",\"sequence_number\":\(first + 3),\"response\":\(completed)}"
                ),
            ]
        case .messages:
            return [
                Self.named("content_block_stop", "{\"type\":\"content_block_stop\",\"index\":0}"),
                Self.named(
                    "message_delta",
                    "{\"type\":\"message_delta\",\"delta\":{\"stop_reason\":\"\(Bodies.anthropicStopReason(plan))\","
                        + "\"stop_sequence\":null},\"usage\":{\"output_tokens\":\(plan.outputTokens)}}"
                ),
                Self.named("message_stop", "{\"type\":\"message_stop\"}"),
            ]
        case .embeddings, .countTokens:
            return []
        }
    }
}
