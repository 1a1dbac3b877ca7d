import Foundation
import SluiceMockProvider
import Testing

@Suite("Anthropic endpoints")
struct AnthropicEndpointTests {
    // "Be terse" (8) + "Hello Claude, how are you?" (26) = 34 characters -> 9 tokens.
    static let request = #""system":"Be terse","messages":[{"role":"user","content":"Hello Claude, how are you?"}]"#

    @Test func messagesJSON() async throws {
        try await withMock { mock in
            let result = try await Curl.request(
                mock.baseURL + "/v1/messages",
                json: #"{"model":"claude-sonnet-4-5","max_tokens":6,\#(Self.request)}"#,
                headers: ["x-api-key": "sk-ant-test", "anthropic-version": "2023-06-01"]
            )
            #expect(result.status == 200)
            #expect(result.headers["request-id"] != nil)
            let json = result.json
            #expect(json.string("id")?.hasPrefix("msg_") == true)
            #expect(json.string("type") == "message")
            #expect(json.string("role") == "assistant")
            #expect(json.string("model") == "claude-sonnet-4-5")
            #expect(json.string("stop_reason") == "max_tokens")
            #expect(json.keys.contains("stop_sequence"))
            let block = try #require(json.array("content")?.first as? [String: Any])
            #expect(block.string("type") == "text")
            #expect(block.string("text")?.split(separator: " ").count == 6)
            let usage = try #require(json.object("usage"))
            #expect(usage.int("input_tokens") == 9)
            #expect(usage.int("output_tokens") == 6)
            #expect(usage.int("cache_read_input_tokens") == 0)
            #expect(usage.int("cache_creation_input_tokens") == 0)

            let stats = mock.stats()
            #expect(stats.credentials["sk-ant-test"] == 1)
            #expect(stats.models["claude-sonnet-4-5"]?.inputTokens == 9)
            #expect(stats.models["claude-sonnet-4-5"]?.outputTokens == 6)
        }
    }

    @Test func outputTokensHeaderAndCachedTokens() async throws {
        try await withMock { mock in
            let json = try await Curl.request(
                mock.baseURL + "/v1/messages",
                json: #"{"model":"claude-haiku","max_tokens":1024,\#(Self.request)}"#,
                headers: ["x-mock-output-tokens": "4", "x-mock-cached-tokens": "100"]
            ).json
            #expect(json.string("stop_reason") == "end_turn")
            let usage = try #require(json.object("usage"))
            #expect(usage.int("output_tokens") == 4)
            #expect(usage.int("input_tokens") == 9)
            #expect(usage.int("cache_read_input_tokens") == 100)
            let model = try #require(mock.stats().models["claude-haiku"])
            #expect(model.inputTokens == 9)
            #expect(model.cachedInputTokens == 100)
            #expect(model.outputTokens == 4)
        }
    }

    @Test func messagesStream() async throws {
        try await withMock { mock in
            let result = try await Curl.request(
                mock.baseURL + "/v1/messages",
                json: #"{"model":"claude-sonnet-4-5","max_tokens":64,"stream":true,\#(Self.request)}"#,
                headers: ["x-mock-output-tokens": "5", "x-mock-cached-tokens": "3"]
            )
            #expect(result.headers["content-type"]?.hasPrefix("text/event-stream") == true)
            let events = result.events
            #expect(events.map { $0.name ?? "" } == [
                "message_start", "content_block_start", "ping",
                "content_block_delta", "content_block_delta", "content_block_delta", "content_block_delta", "content_block_delta",
                "content_block_stop", "message_delta", "message_stop",
            ])
            #expect(events.allSatisfy { $0.json.string("type") == $0.name })
            let message = try #require(events.first?.json.object("message"))
            #expect(message.string("id")?.hasPrefix("msg_") == true)
            let startUsage = try #require(message.object("usage"))
            #expect(startUsage.int("input_tokens") == 9)
            #expect(startUsage.int("cache_read_input_tokens") == 3)
            #expect(startUsage.int("cache_creation_input_tokens") == 0)
            #expect(startUsage.int("output_tokens") == 1)
            let text = events.compactMap { $0.json.object("delta") }.filter { $0.string("type") == "text_delta" }
                .compactMap { $0.string("text") }.joined()
            #expect(text.split(separator: " ").count == 5)
            let delta = events[9].json
            #expect(delta.object("delta")?.string("stop_reason") == "end_turn")
            #expect(delta.object("usage")?.int("output_tokens") == 5)

            let stats = mock.stats()
            #expect(stats.streamedEvents == 11)
            let model = try #require(stats.models["claude-sonnet-4-5"])
            #expect(model.inputTokens == 9)
            #expect(model.cachedInputTokens == 3)
            #expect(model.outputTokens == 5)
        }
    }

    @Test func countTokens() async throws {
        try await withMock { mock in
            let json = try await Curl.request(
                mock.baseURL + "/v1/messages/count_tokens",
                json: #"{"model":"claude-sonnet-4-5",\#(Self.request)}"#
            ).json
            #expect(json.int("input_tokens") == 9)
            #expect(json.count == 1)
            #expect(mock.stats().paths["/v1/messages/count_tokens"] == 1)
            #expect(mock.stats().models["claude-sonnet-4-5"]?.inputTokens == 0)
        }
    }
}
