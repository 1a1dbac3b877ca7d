import Foundation
import SluiceMockProvider
import Testing

/// The counts end-to-end tests compare Sluice against: usage written before a cut, who wrote
/// an error body, and connections that ended.
@Suite("Ground truth for end-to-end tests")
struct GroundTruthTests {
    static let chatStream = BehaviourTests.chatStream
    static let chatStreamNoUsage = #"{"model":"gpt-4o","max_tokens":6,"stream":true,"messages":[{"role":"user","content":"Hello there"}]}"#
    static let messagesStream = BehaviourTests.messagesStream
    static let chat = BehaviourTests.chat

    @Test func finishedResponsesSendWhatTheyReport() async throws {
        try await withMock { mock in
            _ = try await Curl.request(mock.baseURL + "/v1/chat/completions", json: Self.chat, headers: ["x-mock-cached-tokens": "1"])
            _ = try await Curl.request(mock.baseURL + "/v1/chat/completions", json: Self.chatStream)
            _ = try await Curl.request(mock.baseURL + "/v1/chat/completions", json: Self.chatStreamNoUsage)
            let anthropic = try await Curl.request(mock.baseURL + "/v1/messages", json: Self.messagesStream)
            #expect(anthropic.events.last?.name == "message_stop")
            let stats = mock.stats()
            // "Hello there": 11 characters, 3 tokens; 6 output tokens each.
            let openAI = try #require(stats.models["gpt-4o"])
            #expect(openAI.sentInputTokens == openAI.inputTokens)
            #expect(openAI.sentOutputTokens == openAI.outputTokens)
            #expect(openAI.sentCachedInputTokens == openAI.cachedInputTokens)
            #expect((openAI.sentInputTokens, openAI.sentOutputTokens, openAI.sentCachedInputTokens) == (3 + 1 + 3, 12, 1))
            let claude = try #require(stats.models["claude-x"])
            // message_start says 1 output token, message_delta the final 6: the latest counts.
            #expect((claude.sentInputTokens, claude.sentOutputTokens, claude.sentCachedInputTokens) == (3, 6, 0))
            #expect((stats.sentInputTokens, stats.sentOutputTokens) == (stats.inputTokens, stats.outputTokens))
        }
    }

    @Test func aCutAnthropicStreamHasSentItsStartUsage() async throws {
        try await withMock { mock in
            let cut = try await Curl.request(
                mock.baseURL + "/v1/messages", json: Self.messagesStream,
                headers: ["x-mock-reset": "mid", "x-mock-cached-tokens": "2"]
            )
            #expect(cut.exitCode != 0)
            #expect(cut.events.first?.name == "message_start")
            let stats = mock.stats()
            let claude = try #require(stats.models["claude-x"])
            #expect((claude.sentInputTokens, claude.sentOutputTokens, claude.sentCachedInputTokens) == (3, 1, 2))
            #expect((claude.inputTokens, claude.outputTokens, claude.completedResponses) == (0, 0, 0))
            #expect(stats.resets == 1)
        }
    }

    @Test func aCutOrHungOpenAIStreamHasSentNoUsage() async throws {
        try await withMock { mock in
            let cut = try await Curl.request(mock.baseURL + "/v1/chat/completions", json: Self.chatStream, headers: ["x-mock-reset": "mid"])
            #expect(cut.exitCode != 0)
            let hung = try await Curl.request(
                mock.baseURL + "/v1/chat/completions", json: Self.chatStream,
                headers: ["x-mock-hang": "mid"], extra: ["--max-time", "0.5"]
            )
            #expect(hung.exitCode == 28)
            let stats = mock.stats()
            #expect((stats.sentInputTokens, stats.sentOutputTokens, stats.sentCachedInputTokens) == (0, 0, 0))
            #expect(stats.models["gpt-4o"]?.requests == 2)
        }
    }

    @Test func errorBodiesCarryTheRequestIDOfTheirHeader() async throws {
        try await withMock { mock in
            #expect(mock.stats().lastError == nil)
            let openAI = try await Curl.request(mock.baseURL + "/v1/chat/completions", json: Self.chat, headers: ["x-mock-status": "500"])
            let openAIID = try #require(openAI.headers["x-request-id"])
            #expect(openAIID.hasPrefix("req_"))
            #expect(openAI.json.object("error")?.string("message")?.hasSuffix("(mock; request ID \(openAIID))") == true)
            #expect(mock.stats().lastError == MockProviderStats.LastError(status: 500, requestID: openAIID, body: openAI.body))

            let anthropic = try await Curl.request(mock.baseURL + "/v1/messages", json: Self.messagesStream, headers: ["x-mock-status": "529"])
            let anthropicID = try #require(anthropic.headers["request-id"])
            #expect(anthropicID != openAIID)
            #expect(anthropic.json.object("error")?.string("message") == "overloaded error (mock; request ID \(anthropicID))")
            #expect(mock.stats().lastError == MockProviderStats.LastError(status: 529, requestID: anthropicID, body: anthropic.body))

            // A real (not injected) error is recorded the same way; a success leaves it alone.
            let notFound = try await Curl.request(mock.baseURL + "/v1/nope", json: "{}")
            #expect(notFound.status == 404)
            #expect(mock.stats().lastError?.status == 404)
            #expect(try await Curl.request(mock.baseURL + "/v1/chat/completions", json: Self.chat).status == 200)
            #expect(mock.stats().lastError?.body == notFound.body)
            #expect(mock.stats().statuses == ["500": 1, "529": 1, "404": 1, "200": 1])
        }
    }

    @Test func closedConnectionsAreCounted() async throws {
        try await withMock { mock in
            _ = try await Curl.request(mock.baseURL + "/v1/chat/completions", json: Self.chat)
            _ = try await Curl.request(mock.baseURL + "/v1/chat/completions", json: Self.chat, headers: ["x-mock-reset": "before"])
            // curl has exited, so both connections are closed on its side; wait for the mock to see it.
            let clock = ContinuousClock()
            let deadline = clock.now + .seconds(5)
            while mock.stats().connectionsClosed < 2, clock.now < deadline {
                try await Task.sleep(for: .milliseconds(10))
            }
            let stats = mock.stats()
            #expect(stats.connections == 2)
            #expect(stats.connectionsClosed == 2)
        }
    }

    @Test func newFieldsAreInTheStatsJSON() async throws {
        try await withMock { mock in
            _ = try await Curl.request(mock.baseURL + "/v1/messages", json: Self.messagesStream, headers: ["x-mock-status": "500"])
            let raw = try await Curl.request(mock.baseURL + "/mock/stats", method: "GET").json
            #expect(raw.object("last_error")?.int("status") == 500)
            #expect(raw.object("last_error")?.string("request_id")?.hasPrefix("req_") == true)
            #expect(raw.int("sent_input_tokens") == 0)
            #expect(raw.object("models")?.object("claude-x")?.int("sent_output_tokens") == 0)
            #expect(raw.int("connections_closed") != nil)
            _ = try await Curl.request(mock.baseURL + "/mock/reset", method: "POST")
            let cleared = try await Curl.request(mock.baseURL + "/mock/stats", method: "GET").json
            #expect(cleared["last_error"] == nil)
        }
    }
}
