import Foundation
import NIOCore
import SluiceWire

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
        self.contentCount = plan.toolCall?.fragments.count ?? plan.outputTokens
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
            if let call = plan.toolCall {
                // The first chunk names the call; the rest carry its arguments in fragments.
                let name = JSONText.quoted(call.request.name)
                let delta = """
                    {"role":"assistant","content":null,"tool_calls":[{"index":0,"id":"\(call.id)","type":"function",\
                    "function":{"name":\(name),"arguments":""}}],"refusal":null}
                    """
                let first: String = "data: \(common)\"choices\":[{\"index\":0,\"delta\":\(delta),\"logprobs\":null,\"finish_reason\":null}]"
                self.preamble = [first + usageNull + "}\n\n"]
                prefix = "data: " + common + "\"choices\":[{\"index\":0,\"delta\":{\"tool_calls\":[{\"index\":0,\"function\":{\"arguments\":\""
                suffix = "\"}}]},\"logprobs\":null,\"finish_reason\":null}]" + usageNull + "}\n\n"
            } else {
                self.preamble = [
                    "data: " + common
                        + "\"choices\":[{\"index\":0,\"delta\":{\"role\":\"assistant\",\"content\":\"\",\"refusal\":null},"
                        + "\"logprobs\":null,\"finish_reason\":null}]" + usageNull + "}\n\n"
                ]
                prefix = "data: " + common + "\"choices\":[{\"index\":0,\"delta\":{\"content\":\""
                suffix = "\"},\"logprobs\":null,\"finish_reason\":null}]" + usageNull + "}\n\n"
            }
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
            let block: String
            if let call = plan.toolCall {
                block = "{\"type\":\"tool_use\",\"id\":\"\(call.id)\",\"name\":\(JSONText.quoted(call.request.name)),\"input\":{}}"
                prefix = "event: content_block_delta\ndata: {\"type\":\"content_block_delta\",\"index\":0,\"delta\":{\"type\":\"input_json_delta\",\"partial_json\":\""
            } else {
                block = "{\"type\":\"text\",\"text\":\"\"}"
                prefix = "event: content_block_delta\ndata: {\"type\":\"content_block_delta\",\"index\":0,\"delta\":{\"type\":\"text_delta\",\"text\":\""
            }
            self.preamble = [
                Self.named("message_start", start),
                Self.named("content_block_start", "{\"type\":\"content_block_start\",\"index\":0,\"content_block\":\(block)}"),
                Self.named("ping", "{\"type\":\"ping\"}"),
            ]
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
            let piece = self.plan.toolCall?.fragments[contentIndex] ?? self.plan.tokens.piece(contentIndex)
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
