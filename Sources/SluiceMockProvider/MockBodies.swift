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

    static func openAIFinishReason(_ plan: GenerationPlan) -> String {
        plan.toolCall != nil ? "tool_calls" : (plan.truncated ? "length" : "stop")
    }

    static func anthropicStopReason(_ plan: GenerationPlan) -> String {
        plan.toolCall != nil ? "tool_use" : (plan.truncated ? "max_tokens" : "end_turn")
    }

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
        let content: String
        if let call = plan.toolCall {
            content = """
                null,"tool_calls":[{"id":"\(call.id)","type":"function","function":{"name":\(JSONText.quoted(call.request.name)),\
                "arguments":\(JSONText.quoted(call.request.arguments))}}]
                """
        } else {
            content = JSONText.quoted(plan.tokens.text(count: plan.outputTokens))
        }
        return """
            {"id":"chatcmpl-\(plan.idSuffix)","object":"chat.completion","created":\(plan.created),\
            "model":\(JSONText.quoted(plan.model)),"choices":[{"index":0,"message":{"role":"assistant",\
            "content":\(content),"refusal":null,"annotations":[]},"logprobs":null,\
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
        let block: String
        if let call = plan.toolCall {
            block = """
                {"type":"tool_use","id":"\(call.id)","name":\(JSONText.quoted(call.request.name)),"input":\(call.request.arguments)}
                """
        } else {
            block = "{\"type\":\"text\",\"text\":" + JSONText.quoted(plan.tokens.text(count: plan.outputTokens)) + "}"
        }
        return """
            {"id":"msg_\(plan.idSuffix)","type":"message","role":"assistant","model":\(JSONText.quoted(plan.model)),\
            "content":[\(block)],"stop_reason":"\(self.anthropicStopReason(plan))",\
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
