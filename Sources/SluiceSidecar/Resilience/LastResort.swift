import NIOCore
import NIOHTTP1
import SluiceWire

/// An answer for a call whose every target failed: `fallback: static` today; the cache
/// issue adds `fallback: stale-cache` as another ``LastResort`` ahead of it in
/// ``ResilienceStage/lastResorts``.
public protocol LastResort: Sendable {
    /// Whether this resort would answer `call` (asked before an upstream error is dropped).
    func canAnswer(_ call: Call) -> Bool
    /// The answer, or nil when this resort has none for the call. Sets ``Call/fallback``.
    func source(for call: Call) -> (any ResponseSource)?
}

/// `fallback_reply`: the route's configured content as a normal completion in the
/// caller's format (a stream when the client asked for one), with no usage and no cost,
/// marked `x-sluice-fallback: static`.
public struct StaticFallback: LastResort {
    public init() {}

    public func canAnswer(_ call: Call) -> Bool {
        guard call.route?.fallbackReply != nil, let endpoint = call.endpoint else { return false }
        return endpoint == .chatCompletions || endpoint == .messages
    }

    public func source(for call: Call) -> (any ResponseSource)? {
        guard canAnswer(call), let reply = call.route?.fallbackReply else { return nil }
        call.fallback = "static"
        let model = call.request?.model ?? "sluice-fallback"
        let stream = call.request?.stream ?? false
        let body = StaticReplyBody.render(content: reply.content, model: model, id: call.id, family: call.family, stream: stream)
        return LocalReplySource(LocalReply(
            status: 200, headers: [("x-sluice-fallback", "static")],
            contentType: stream ? "text/event-stream" : "application/json", body: body
        ))
    }
}

/// The bodies of a static fallback answer, in each API's shape.
enum StaticReplyBody {
    static func render(content: String, model: String, id: String, family: APIFamily, stream: Bool) -> String {
        let text = JSONText.quoted(content)
        let name = JSONText.quoted(model)
        switch (family, stream) {
        case (.openai, false):
            return "{\"id\":\(JSONText.quoted("chatcmpl-" + id)),\"object\":\"chat.completion\",\"created\":0,\"model\":\(name),\"choices\":[{\"index\":0,\"message\":{\"role\":\"assistant\",\"content\":\(text)},\"finish_reason\":\"stop\"}],\"usage\":{\"prompt_tokens\":0,\"completion_tokens\":0,\"total_tokens\":0}}"
        case (.openai, true):
            let chunk = { (delta: String, finish: String) in
                "data: {\"id\":\(JSONText.quoted("chatcmpl-" + id)),\"object\":\"chat.completion.chunk\",\"created\":0,\"model\":\(name),\"choices\":[{\"index\":0,\"delta\":\(delta),\"finish_reason\":\(finish)}]}\n\n"
            }
            return chunk("{\"role\":\"assistant\",\"content\":\"\"}", "null") + chunk("{\"content\":\(text)}", "null") + chunk("{}", "\"stop\"") + "data: [DONE]\n\n"
        case (.anthropic, false):
            return "{\"id\":\(JSONText.quoted("msg_" + id)),\"type\":\"message\",\"role\":\"assistant\",\"model\":\(name),\"content\":[{\"type\":\"text\",\"text\":\(text)}],\"stop_reason\":\"end_turn\",\"stop_sequence\":null,\"usage\":{\"input_tokens\":0,\"output_tokens\":0}}"
        case (.anthropic, true):
            return "event: message_start\ndata: {\"type\":\"message_start\",\"message\":{\"id\":\(JSONText.quoted("msg_" + id)),\"type\":\"message\",\"role\":\"assistant\",\"model\":\(name),\"content\":[],\"stop_reason\":null,\"stop_sequence\":null,\"usage\":{\"input_tokens\":0,\"output_tokens\":0}}}\n\n"
                + "event: content_block_start\ndata: {\"type\":\"content_block_start\",\"index\":0,\"content_block\":{\"type\":\"text\",\"text\":\"\"}}\n\n"
                + "event: content_block_delta\ndata: {\"type\":\"content_block_delta\",\"index\":0,\"delta\":{\"type\":\"text_delta\",\"text\":\(text)}}\n\n"
                + "event: content_block_stop\ndata: {\"type\":\"content_block_stop\",\"index\":0}\n\n"
                + "event: message_delta\ndata: {\"type\":\"message_delta\",\"delta\":{\"stop_reason\":\"end_turn\",\"stop_sequence\":null},\"usage\":{\"output_tokens\":0}}\n\n"
                + "event: message_stop\ndata: {\"type\":\"message_stop\"}\n\n"
        }
    }
}
