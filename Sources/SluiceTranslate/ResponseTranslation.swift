// Successful non-streaming response bodies: Anthropic message ⇄ OpenAI chat completion.
import Foundation

/// Rewrites a whole (non-streaming) response body into the client's family.
enum ResponseTranslation {
    /// An Anthropic `message` as an OpenAI `chat.completion`.
    static func openAI(fromAnthropic message: JSONObject, created: Int = currentTime()) -> JSONObject {
        var text = ""
        var sawText = false
        var calls: [JSON] = []
        for block in message["content"]?.arrayValue ?? [] {
            guard let block = block.objectValue else { continue }
            switch block["type"]?.stringValue {
            case "text":
                text += block["text"]?.stringValue ?? ""
                sawText = true
            case "tool_use":
                calls.append([
                    "id": block["id"] ?? "",
                    "type": "function",
                    "function": [
                        "name": block["name"] ?? "",
                        "arguments": .string((block["input"]?.objectValue ?? JSONObject()).serialized),
                    ],
                ])
            default:
                continue  // thinking and server-tool blocks have no chat completions form
            }
        }
        let stopReason = message["stop_reason"]?.stringValue
        var reply: JSONObject = ["role": "assistant", "content": sawText ? .string(text) : .null, "refusal": .null]
        if !calls.isEmpty { reply["tool_calls"] = .array(calls) }
        var out: JSONObject = [
            "id": message["id"] ?? "",
            "object": "chat.completion",
            "created": .int(created),
            "model": message["model"] ?? "",
            "choices": [[
                "index": 0,
                "message": .object(reply),
                "logprobs": .null,
                "finish_reason": .string(StopReason.openAI(fromAnthropic: stopReason)),
            ]],
        ]
        if let usage = message["usage"]?.objectValue {
            out["usage"] = .object(UsageCounts(anthropic: usage).openAI)
        }
        return out
    }

    /// An OpenAI `chat.completion` (its first choice) as an Anthropic `message`.
    static func anthropic(fromOpenAI completion: JSONObject) -> JSONObject {
        let choice = completion["choices"]?.arrayValue?.first?.objectValue
        let reply = choice?["message"]?.objectValue
        var content: [JSON] = []
        if let text = reply.flatMap(messageText), !text.isEmpty {
            content.append(["type": "text", "text": .string(text)])
        } else if let refusal = reply?["refusal"]?.stringValue, !refusal.isEmpty {
            content.append(["type": "text", "text": .string(refusal)])
        }
        for call in reply?["tool_calls"]?.arrayValue ?? [] {
            guard let call = call.objectValue, let function = call["function"]?.objectValue else { continue }
            let arguments = function["arguments"]?.stringValue ?? ""
            // Arguments that are not a JSON object cannot be an Anthropic `input`: sent as {}.
            let input = (try? JSON.parse(arguments))?.objectValue ?? JSONObject()
            content.append([
                "type": "tool_use",
                "id": .string(ToolCallID.anthropic(call["id"]?.stringValue ?? "")),
                "name": function["name"] ?? "",
                "input": .object(input),
            ])
        }
        var out: JSONObject = [
            "id": completion["id"] ?? "",
            "type": "message",
            "role": "assistant",
            "model": completion["model"] ?? "",
            "content": .array(content),
            "stop_reason": .string(StopReason.anthropic(fromOpenAI: choice?["finish_reason"]?.stringValue)),
            "stop_sequence": .null,
        ]
        if let usage = completion["usage"]?.objectValue {
            out["usage"] = .object(UsageCounts(openAI: usage).anthropic)
        }
        return out
    }

    /// An OpenAI message's text, whether `content` is a string or text parts.
    static func messageText(_ message: JSONObject) -> String? {
        switch message["content"] {
        case .string(let text)?: return text
        case .array(let parts)?:
            return parts.compactMap { $0.objectValue?["text"]?.stringValue }.joined()
        default: return nil
        }
    }

    /// Seconds since 1970, for OpenAI's `created`.
    static func currentTime() -> Int {
        Int(Date().timeIntervalSince1970)
    }
}
