import Foundation
import SluiceMockProvider
import Testing

@Suite("OpenAI endpoints")
struct OpenAIEndpointTests {
    // "Be brief." (9) + "Say hello to the proxy please" (29) = 38 characters -> 10 tokens.
    static let messages = #"[{"role":"system","content":"Be brief."},{"role":"user","content":[{"type":"text","text":"Say hello to the proxy please"}]}]"#

    @Test func chatCompletionJSON() async throws {
        try await withMock { mock in
            let body = #"{"model":"gpt-4o-mini","max_tokens":7,"messages":\#(Self.messages)}"#
            let result = try await Curl.request(
                mock.baseURL + "/v1/chat/completions",
                json: body,
                headers: ["authorization": "Bearer sk-test", "x-extra": "1"]
            )
            #expect(result.status == 200)
            #expect(result.headers["content-type"] == "application/json")
            let json = result.json
            #expect(json.string("id")?.hasPrefix("chatcmpl-") == true)
            #expect(json.string("object") == "chat.completion")
            #expect(json.int("created") != nil)
            #expect(json.string("model") == "gpt-4o-mini")
            let choice = json.array("choices")?.first as? [String: Any]
            #expect(choice?.int("index") == 0)
            #expect(choice?.string("finish_reason") == "length")
            let message = choice?.object("message")
            #expect(message?.string("role") == "assistant")
            #expect(message?.string("content")?.split(separator: " ").count == 7)
            let usage = json.object("usage")
            #expect(usage?.int("prompt_tokens") == 10)
            #expect(usage?.int("completion_tokens") == 7)
            #expect(usage?.int("total_tokens") == 17)
            #expect(usage?.object("prompt_tokens_details")?.int("cached_tokens") == 0)
            #expect(usage?.object("completion_tokens_details")?.int("reasoning_tokens") == 0)

            let stats = mock.stats()
            #expect(stats.requests == 1)
            #expect(stats.completedResponses == 1)
            #expect(stats.paths["/v1/chat/completions"] == 1)
            #expect(stats.statuses["200"] == 1)
            #expect(stats.credentials["Bearer sk-test"] == 1)
            #expect(stats.headersSeen["authorization"] == 1)
            #expect(stats.headersSeen["x-extra"] == 1)
            #expect(stats.lastRequest?.path == "/v1/chat/completions")
            #expect(stats.lastRequest?.body == body)
            #expect(stats.lastRequest?.headers["authorization"] == "Bearer sk-test")
            let model = stats.models["gpt-4o-mini"]
            #expect(model?.requests == 1)
            #expect(model?.inputTokens == 10)
            #expect(model?.outputTokens == 7)
            #expect(model?.cachedInputTokens == 0)
        }
    }

    @Test func contentIsDeterministicAndDefaultsToConfiguredLength() async throws {
        let body = #"{"model":"m","messages":\#(Self.messages)}"#
        let first = try await withMock(MockProviderConfiguration(outputTokens: 5, seed: 42)) { mock in
            try await Curl.request(mock.baseURL + "/v1/chat/completions", json: body).json
        }
        let second = try await withMock(MockProviderConfiguration(outputTokens: 5, seed: 42)) { mock in
            try await Curl.request(mock.baseURL + "/v1/chat/completions", json: body).json
        }
        func content(_ json: [String: Any]) -> String? {
            ((json.array("choices")?.first as? [String: Any])?.object("message"))?.string("content")
        }
        #expect(content(first) != nil)
        #expect(content(first) == content(second))
        #expect(content(first)?.split(separator: " ").count == 5)
        #expect((first.array("choices")?.first as? [String: Any])?.string("finish_reason") == "stop")
    }

    @Test func chatStreamWithoutUsage() async throws {
        try await withMock { mock in
            let body = #"{"model":"gpt-4o","stream":true,"max_completion_tokens":5,"messages":\#(Self.messages)}"#
            let result = try await Curl.request(mock.baseURL + "/v1/chat/completions", json: body)
            #expect(result.status == 200)
            #expect(result.headers["content-type"]?.hasPrefix("text/event-stream") == true)
            let events = result.events
            #expect(events.last?.data == "[DONE]")
            let chunks = events.dropLast().map(\.json)
            #expect(chunks.count == 7)  // role, 5 content, finish
            #expect(!result.body.contains("\"usage\""))
            for chunk in chunks {
                #expect(chunk.string("object") == "chat.completion.chunk")
                #expect(chunk.string("id")?.hasPrefix("chatcmpl-") == true)
                #expect(chunk.string("model") == "gpt-4o")
            }
            let deltas = chunks.compactMap { ($0.array("choices")?.first as? [String: Any])?.object("delta") }
            #expect(deltas.first?.string("role") == "assistant")
            let text = deltas.compactMap { $0.string("content") }.joined()
            #expect(text.split(separator: " ").count == 5)
            #expect((chunks.last?.array("choices")?.first as? [String: Any])?.string("finish_reason") == "length")

            let stats = mock.stats()
            #expect(stats.streamedEvents == events.count)
            #expect(stats.completedResponses == 1)
            #expect(stats.models["gpt-4o"]?.requests == 1)
            // No usage was reported, so none is counted.
            #expect(stats.models["gpt-4o"]?.inputTokens == 0)
            #expect(stats.models["gpt-4o"]?.outputTokens == 0)
        }
    }

    @Test func chatStreamWithIncludeUsage() async throws {
        try await withMock { mock in
            let body = #"{"model":"gpt-4o","stream":true,"stream_options":{"include_usage":true},"max_tokens":4,"messages":\#(Self.messages)}"#
            let result = try await Curl.request(
                mock.baseURL + "/v1/chat/completions",
                json: body,
                headers: ["x-mock-cached-tokens": "6"]
            )
            let events = result.events
            #expect(events.last?.data == "[DONE]")
            let chunks = events.dropLast().map(\.json)
            #expect(chunks.count == 7)  // role, 4 content, finish, usage
            for chunk in chunks.dropLast() {
                #expect(chunk.keys.contains("usage"))
                #expect(chunk["usage"] is NSNull)
            }
            let final = try #require(chunks.last)
            #expect(final.array("choices")?.isEmpty == true)
            let usage = try #require(final.object("usage"))
            #expect(usage.int("prompt_tokens") == 16)
            #expect(usage.int("completion_tokens") == 4)
            #expect(usage.int("total_tokens") == 20)
            #expect(usage.object("prompt_tokens_details")?.int("cached_tokens") == 6)

            let model = try #require(mock.stats().models["gpt-4o"])
            #expect(model.inputTokens == 16)
            #expect(model.outputTokens == 4)
            #expect(model.cachedInputTokens == 6)
            #expect(mock.stats().streamedEvents == events.count)
        }
    }

    @Test func legacyCompletions() async throws {
        try await withMock { mock in
            let url = mock.baseURL + "/v1/completions"
            // "Once upon a time" = 16 characters -> 4 tokens.
            let plain = try await Curl.request(url, json: #"{"model":"gpt-3.5-turbo-instruct","prompt":"Once upon a time","max_tokens":3}"#)
            let json = plain.json
            #expect(json.string("id")?.hasPrefix("cmpl-") == true)
            #expect(json.string("object") == "text_completion")
            let choice = json.array("choices")?.first as? [String: Any]
            #expect(choice?.string("text")?.split(separator: " ").count == 3)
            #expect(choice?.string("finish_reason") == "length")
            #expect(json.object("usage")?.int("prompt_tokens") == 4)
            #expect(json.object("usage")?.int("completion_tokens") == 3)

            let streamed = try await Curl.request(
                url,
                json: #"{"model":"gpt-3.5-turbo-instruct","prompt":["Once upon a time"],"max_tokens":3,"stream":true,"stream_options":{"include_usage":true}}"#
            )
            let events = streamed.events
            #expect(events.last?.data == "[DONE]")
            let chunks = events.dropLast().map(\.json)
            #expect(chunks.count == 5)  // 3 content, finish, usage
            #expect(chunks.allSatisfy { $0.string("object") == "text_completion" && $0.keys.contains("usage") })
            let text = chunks.dropLast().compactMap { ($0.array("choices")?.first as? [String: Any])?.string("text") }.joined()
            #expect(text.split(separator: " ").count == 3)
            #expect(chunks.last?.object("usage")?.int("completion_tokens") == 3)

            let model = try #require(mock.stats().models["gpt-3.5-turbo-instruct"])
            #expect(model.requests == 2)
            #expect(model.inputTokens == 8)
            #expect(model.outputTokens == 6)
        }
    }

    @Test func embeddings() async throws {
        try await withMock { mock in
            let url = mock.baseURL + "/v1/embeddings"
            // 8 + 5 characters -> 2 + 2 tokens.
            let list = try await Curl.request(url, json: #"{"model":"text-embedding-3-small","input":["abcdefgh","hello"],"dimensions":8}"#)
            let json = list.json
            #expect(json.string("object") == "list")
            let data = try #require(json.array("data") as? [[String: Any]])
            #expect(data.count == 2)
            #expect(data.map { $0.int("index") } == [0, 1])
            #expect(data.allSatisfy { $0.string("object") == "embedding" && ($0.array("embedding")?.count ?? 0) == 8 })
            #expect(json.object("usage")?.int("prompt_tokens") == 4)
            #expect(json.object("usage")?.int("total_tokens") == 4)

            // The official SDK asks for base64 by default.
            let encoded = try await Curl.request(url, json: #"{"model":"text-embedding-3-small","input":"hi","encoding_format":"base64","dimensions":16}"#)
            let first = try #require((encoded.json.array("data")?.first as? [String: Any])?.string("embedding"))
            #expect(Data(base64Encoded: first)?.count == 16 * 4)

            let model = try #require(mock.stats().models["text-embedding-3-small"])
            #expect(model.inputTokens == 5)
            #expect(model.outputTokens == 0)
        }
    }

    @Test func responsesJSON() async throws {
        try await withMock { mock in
            // "You are terse." (14) + "Hi there" (8) = 22 -> 6 tokens.
            let body = #"{"model":"gpt-4.1","instructions":"You are terse.","input":"Hi there","max_output_tokens":9}"#
            let json = try await Curl.request(mock.baseURL + "/v1/responses", json: body).json
            #expect(json.string("id")?.hasPrefix("resp_") == true)
            #expect(json.string("object") == "response")
            #expect(json.string("status") == "completed")
            let item = try #require(json.array("output")?.first as? [String: Any])
            #expect(item.string("type") == "message")
            #expect(item.string("role") == "assistant")
            let part = try #require(item.array("content")?.first as? [String: Any])
            #expect(part.string("type") == "output_text")
            #expect(part.string("text")?.split(separator: " ").count == 9)
            let usage = try #require(json.object("usage"))
            #expect(usage.int("input_tokens") == 6)
            #expect(usage.int("output_tokens") == 9)
            #expect(usage.int("total_tokens") == 15)
            #expect(usage.object("input_tokens_details")?.int("cached_tokens") == 0)
            #expect(usage.object("output_tokens_details")?.int("reasoning_tokens") == 0)
            #expect(mock.stats().models["gpt-4.1"]?.inputTokens == 6)
            #expect(mock.stats().models["gpt-4.1"]?.outputTokens == 9)
        }
    }

    @Test func responsesStream() async throws {
        try await withMock { mock in
            let body = #"{"model":"gpt-4.1","input":[{"role":"user","content":[{"type":"input_text","text":"Hi there"}]}],"max_output_tokens":3,"stream":true}"#
            let result = try await Curl.request(mock.baseURL + "/v1/responses", json: body, headers: ["x-mock-cached-tokens": "2"])
            let events = result.events
            #expect(events.map { $0.name ?? "" } == [
                "response.created", "response.in_progress", "response.output_item.added", "response.content_part.added",
                "response.output_text.delta", "response.output_text.delta", "response.output_text.delta",
                "response.output_text.done", "response.content_part.done", "response.output_item.done", "response.completed",
            ])
            for (index, event) in events.enumerated() {
                #expect(event.json.string("type") == event.name)
                #expect(event.json.int("sequence_number") == index)
            }
            let deltas = events.filter { $0.name == "response.output_text.delta" }.compactMap { $0.json.string("delta") }.joined()
            #expect(events[7].json.string("text") == deltas)
            let completed = try #require(events.last?.json.object("response"))
            #expect(completed.string("status") == "completed")
            let usage = try #require(completed.object("usage"))
            #expect(usage.int("input_tokens") == 4)
            #expect(usage.object("input_tokens_details")?.int("cached_tokens") == 2)
            #expect(usage.int("output_tokens") == 3)
            #expect(usage.int("total_tokens") == 7)
            let model = try #require(mock.stats().models["gpt-4.1"])
            #expect(model.inputTokens == 4)
            #expect(model.cachedInputTokens == 2)
            #expect(model.outputTokens == 3)
            #expect(mock.stats().streamedEvents == 11)
        }
    }
}
