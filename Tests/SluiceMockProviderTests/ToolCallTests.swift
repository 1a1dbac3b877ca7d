import Foundation
import SluiceMockProvider
import Testing

@Suite("Tool calls")
struct ToolCallTests {
    static let weatherSchema = #"{"type":"object","properties":{"city":{"type":"string"},"unit":{"type":"string","enum":["celsius","fahrenheit"]},"days":{"type":"integer"}},"required":["city"]}"#
    static let openAITools = #"[{"type":"function","function":{"name":"get_weather","description":"Current weather","parameters":\#(weatherSchema)}},{"type":"function","function":{"name":"get_time","parameters":{"type":"object","properties":{"zone":{"type":"string"},"utc":{"type":"boolean"}}}}}]"#
    static let anthropicTools = #"[{"name":"get_weather","description":"Current weather","input_schema":\#(weatherSchema)},{"name":"get_time","input_schema":{"type":"object","properties":{"zone":{"type":"string"},"utc":{"type":"boolean"}}}}]"#
    static let question = #"{"role":"user","content":"What is the weather in Paris?"}"#
    /// Keys sorted, one value per property: strings "<name>-value", the first enum value, integers 1.
    static let weatherArguments = #"{"city":"city-value","days":1,"unit":"celsius"}"#
    /// ceil((11 + 47) / 4) + 8 framing tokens.
    static let callTokens = 23
    /// "What is the weather in Paris?" (29) + "get_weather" (11) + "Current weather" (15) + "get_time" (8) = 63 -> 16.
    static let inputTokens = 16

    static func choice(_ json: [String: Any]) -> [String: Any]? { json.array("choices")?.first as? [String: Any] }

    @Test func chatCompletionCallsTheFirstTool() async throws {
        try await withMock { mock in
            let result = try await Curl.request(
                mock.baseURL + "/v1/chat/completions",
                json: #"{"model":"gpt-4o","messages":[\#(Self.question)],"tools":\#(Self.openAITools)}"#
            )
            #expect(result.status == 200)
            let choice = try #require(Self.choice(result.json))
            #expect(choice.string("finish_reason") == "tool_calls")
            let message = try #require(choice.object("message"))
            #expect(message["content"] is NSNull)
            let call = try #require(message.array("tool_calls")?.first as? [String: Any])
            #expect(call.string("id")?.hasPrefix("call_") == true)
            #expect(call.string("type") == "function")
            #expect(call.object("function")?.string("name") == "get_weather")
            #expect(call.object("function")?.string("arguments") == Self.weatherArguments)
            let usage = try #require(result.json.object("usage"))
            #expect(usage.int("completion_tokens") == Self.callTokens)
            #expect(usage.int("prompt_tokens") == Self.inputTokens)
            #expect(mock.stats().models["gpt-4o"]?.outputTokens == Self.callTokens)
        }
    }

    @Test func toolChoiceNamesOrForbidsTheCall() async throws {
        try await withMock { mock in
            let url = mock.baseURL + "/v1/chat/completions"
            let named = try await Curl.request(
                url,
                json: #"{"model":"gpt-4o","messages":[\#(Self.question)],"tools":\#(Self.openAITools),"tool_choice":{"type":"function","function":{"name":"get_time"}}}"#
            )
            let call = try #require((Self.choice(named.json)?.object("message")?.array("tool_calls")?.first as? [String: Any])?.object("function"))
            #expect(call.string("name") == "get_time")
            #expect(call.string("arguments") == #"{"utc":true,"zone":"zone-value"}"#)

            let none = try await Curl.request(
                url,
                json: #"{"model":"gpt-4o","max_tokens":5,"messages":[\#(Self.question)],"tools":\#(Self.openAITools),"tool_choice":"none"}"#
            )
            #expect(Self.choice(none.json)?.string("finish_reason") == "length")
            #expect(Self.choice(none.json)?.object("message")?.string("content")?.split(separator: " ").count == 5)
            #expect(Self.choice(none.json)?.object("message")?["tool_calls"] == nil)

            let required = try await Curl.request(
                url,
                json: #"{"model":"gpt-4o","messages":[\#(Self.question)],"tools":\#(Self.openAITools),"tool_choice":"required"}"#
            )
            #expect(Self.choice(required.json)?.string("finish_reason") == "tool_calls")
        }
    }

    @Test func aToolResultIsAnsweredWithText() async throws {
        try await withMock { mock in
            let history = #"[\#(Self.question),{"role":"assistant","content":null,"tool_calls":[{"id":"call_1","type":"function","function":{"name":"get_weather","arguments":"{}"}}]},{"role":"tool","tool_call_id":"call_1","content":"Sunny, 21 C"}]"#
            let result = try await Curl.request(
                mock.baseURL + "/v1/chat/completions",
                json: #"{"model":"gpt-4o","max_tokens":50,"messages":\#(history),"tools":\#(Self.openAITools)}"#,
                headers: ["x-mock-output-tokens": "6"]
            )
            let choice = try #require(Self.choice(result.json))
            #expect(choice.string("finish_reason") == "stop")
            #expect(choice.object("message")?.string("content")?.split(separator: " ").count == 6)
            #expect(result.json.object("usage")?.int("completion_tokens") == 6)
        }
    }

    @Test func chatCompletionStreamsTheCall() async throws {
        try await withMock { mock in
            let result = try await Curl.request(
                mock.baseURL + "/v1/chat/completions",
                json: #"{"model":"gpt-4o","stream":true,"stream_options":{"include_usage":true},"messages":[\#(Self.question)],"tools":\#(Self.openAITools)}"#
            )
            let events = result.events
            #expect(events.last?.data == "[DONE]")
            let chunks = events.dropLast().map(\.json)
            // The naming chunk, 6 argument fragments of up to 8 characters, finish, usage.
            #expect(chunks.count == 9)
            let deltas = chunks.compactMap { Self.choice($0)?.object("delta") }
            let first = try #require(deltas.first)
            #expect(first.string("role") == "assistant")
            let opening = try #require(first.array("tool_calls")?.first as? [String: Any])
            #expect(opening.int("index") == 0)
            #expect(opening.string("id")?.hasPrefix("call_") == true)
            #expect(opening.string("type") == "function")
            #expect(opening.object("function")?.string("name") == "get_weather")
            #expect(opening.object("function")?.string("arguments") == "")
            let fragments = deltas.dropFirst().compactMap { ($0.array("tool_calls")?.first as? [String: Any]) }
            #expect(fragments.count == 6)
            #expect(fragments.allSatisfy { $0.int("index") == 0 && $0["id"] == nil })
            #expect(fragments.compactMap { $0.object("function")?.string("arguments") }.joined() == Self.weatherArguments)
            #expect(Self.choice(chunks[7])?.string("finish_reason") == "tool_calls")
            #expect(chunks[8].object("usage")?.int("completion_tokens") == Self.callTokens)

            let stats = mock.stats()
            #expect(stats.streamedEvents == events.count)
            #expect(stats.models["gpt-4o"]?.outputTokens == Self.callTokens)
            #expect(stats.models["gpt-4o"]?.sentOutputTokens == Self.callTokens)
        }
    }

    @Test func messagesCallATool() async throws {
        try await withMock { mock in
            let url = mock.baseURL + "/v1/messages"
            let result = try await Curl.request(
                url,
                json: #"{"model":"claude-x","max_tokens":1024,"messages":[\#(Self.question)],"tools":\#(Self.anthropicTools)}"#
            )
            #expect(result.status == 200)
            #expect(result.json.string("stop_reason") == "tool_use")
            let block = try #require(result.json.array("content")?.first as? [String: Any])
            #expect(block.string("type") == "tool_use")
            #expect(block.string("id")?.hasPrefix("toolu_") == true)
            #expect(block.string("name") == "get_weather")
            let input = try #require(block.object("input"))
            #expect(input.string("city") == "city-value")
            #expect(input.string("unit") == "celsius")
            #expect(input.int("days") == 1)
            #expect(input.count == 3)
            #expect(result.json.object("usage")?.int("output_tokens") == Self.callTokens)
            #expect(result.json.object("usage")?.int("input_tokens") == Self.inputTokens)

            let named = try await Curl.request(
                url,
                json: #"{"model":"claude-x","max_tokens":1024,"messages":[\#(Self.question)],"tools":\#(Self.anthropicTools),"tool_choice":{"type":"tool","name":"get_time"}}"#
            )
            #expect((named.json.array("content")?.first as? [String: Any])?.string("name") == "get_time")

            let none = try await Curl.request(
                url,
                json: #"{"model":"claude-x","max_tokens":3,"messages":[\#(Self.question)],"tools":\#(Self.anthropicTools),"tool_choice":{"type":"none"}}"#
            )
            #expect(none.json.string("stop_reason") == "max_tokens")
            #expect((none.json.array("content")?.first as? [String: Any])?.string("type") == "text")

            let history = #"[\#(Self.question),{"role":"assistant","content":[{"type":"tool_use","id":"toolu_1","name":"get_weather","input":{}}]},{"role":"user","content":[{"type":"tool_result","tool_use_id":"toolu_1","content":"Sunny"}]}]"#
            let answered = try await Curl.request(
                url,
                json: #"{"model":"claude-x","max_tokens":4,"messages":\#(history),"tools":\#(Self.anthropicTools)}"#
            )
            #expect(answered.json.string("stop_reason") == "max_tokens")
            #expect((answered.json.array("content")?.first as? [String: Any])?.string("text")?.split(separator: " ").count == 4)
        }
    }

    @Test func messagesStreamTheCall() async throws {
        try await withMock { mock in
            let result = try await Curl.request(
                mock.baseURL + "/v1/messages",
                json: #"{"model":"claude-x","max_tokens":1024,"stream":true,"messages":[\#(Self.question)],"tools":\#(Self.anthropicTools)}"#
            )
            let events = result.events
            #expect(events.map { $0.name ?? "" } == ["message_start", "content_block_start", "ping"]
                + Array(repeating: "content_block_delta", count: 6) + ["content_block_stop", "message_delta", "message_stop"])
            let block = try #require(events[1].json.object("content_block"))
            #expect(block.string("type") == "tool_use")
            #expect(block.string("id")?.hasPrefix("toolu_") == true)
            #expect(block.string("name") == "get_weather")
            #expect(block.object("input")?.isEmpty == true)
            let deltas = events.compactMap { $0.json.object("delta") }.filter { $0.string("type") == "input_json_delta" }
            #expect(deltas.count == 6)
            #expect(deltas.compactMap { $0.string("partial_json") }.joined() == Self.weatherArguments)
            let final = events[10].json
            #expect(final.object("delta")?.string("stop_reason") == "tool_use")
            #expect(final.object("usage")?.int("output_tokens") == Self.callTokens)

            let stats = mock.stats()
            #expect(stats.models["claude-x"]?.outputTokens == Self.callTokens)
            #expect(stats.models["claude-x"]?.sentOutputTokens == Self.callTokens)
            #expect(stats.models["claude-x"]?.inputTokens == Self.inputTokens)
        }
    }
}
