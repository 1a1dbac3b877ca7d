import Foundation
import SluiceMockProvider
import Testing

@Suite("Azure OpenAI endpoints")
struct AzureEndpointTests {
    static let messages = #"[{"role":"user","content":"Hello there"}]"#
    static let chatPath = "/openai/deployments/prod-gpt4o/chat/completions"

    @Test func chatCompletionsServeTheDeployment() async throws {
        try await withMock { mock in
            let result = try await Curl.request(
                mock.baseURL + Self.chatPath + "?api-version=2024-10-21",
                json: #"{"model":"gpt-4o","max_tokens":4,"messages":\#(Self.messages)}"#,
                headers: ["api-key": "azure-key-1"]
            )
            #expect(result.status == 200)
            let json = result.json
            #expect(json.string("object") == "chat.completion")
            // The deployment answers, whatever the body names.
            #expect(json.string("model") == "prod-gpt4o")
            #expect(json.object("usage")?.int("completion_tokens") == 4)
            // "Hello there": 11 characters -> 3 tokens.
            #expect(json.object("usage")?.int("prompt_tokens") == 3)

            let stats = mock.stats()
            #expect(stats.azure.requests == 1)
            #expect(stats.azure.deployments == ["prod-gpt4o": 1])
            #expect(stats.azure.apiVersions == ["2024-10-21": 1])
            #expect(stats.azure.lastDeployment == "prod-gpt4o")
            #expect(stats.azure.lastAPIVersion == "2024-10-21")
            #expect(stats.azure.lastAPIKey == "azure-key-1")
            #expect(stats.credentials == ["azure-key-1": 1])
            #expect(stats.paths == [Self.chatPath: 1])
            #expect(stats.lastRequest?.path == Self.chatPath)
            #expect(stats.lastRequest?.query == "api-version=2024-10-21")
            #expect(stats.models.keys.sorted() == ["prod-gpt4o"])
            #expect(stats.models["prod-gpt4o"]?.outputTokens == 4)
            #expect(stats.models["prod-gpt4o"]?.statuses == ["200": 1])

            let raw = try await Curl.request(mock.baseURL + "/mock/stats", method: "GET").json
            let azure = try #require(raw.object("azure"))
            #expect(azure.string("last_api_key") == "azure-key-1")
            #expect(azure.string("last_api_version") == "2024-10-21")
            #expect(azure.object("api_versions")?.int("2024-10-21") == 1)
            #expect(raw.object("last_request")?.string("query") == "api-version=2024-10-21")
        }
    }

    @Test func completionsEmbeddingsAndStreams() async throws {
        try await withMock { mock in
            let base = mock.baseURL + "/openai/deployments/"
            let headers = ["api-key": "k"]
            let completion = try await Curl.request(
                base + "instruct/completions?api-version=2024-10-21",
                json: #"{"prompt":"Hello there","max_tokens":3}"#,
                headers: headers
            )
            #expect(completion.status == 200)
            #expect(completion.json.string("object") == "text_completion")
            #expect(completion.json.string("model") == "instruct")

            let embeddings = try await Curl.request(
                base + "embed-small/embeddings?foo=1&api-version=2024-02-01",
                json: #"{"input":["a","b"],"dimensions":8}"#,
                headers: headers
            )
            #expect(embeddings.status == 200)
            #expect(embeddings.json.string("model") == "embed-small")
            #expect(embeddings.json.array("data")?.count == 2)

            let stream = try await Curl.request(
                base + "prod-gpt4o/chat/completions?api-version=2024-10-21",
                json: #"{"stream":true,"stream_options":{"include_usage":true},"max_tokens":3,"messages":\#(Self.messages)}"#,
                headers: headers
            )
            #expect(stream.events.last?.data == "[DONE]")
            let chunks = stream.events.dropLast().map(\.json)
            #expect(!chunks.isEmpty)
            #expect(chunks.allSatisfy { $0.string("model") == "prod-gpt4o" })
            #expect(chunks.last?.object("usage")?.int("completion_tokens") == 3)

            let stats = mock.stats()
            #expect(stats.azure.requests == 3)
            #expect(stats.azure.deployments == ["instruct": 1, "embed-small": 1, "prod-gpt4o": 1])
            #expect(stats.azure.apiVersions == ["2024-10-21": 2, "2024-02-01": 1])
            #expect(stats.models["prod-gpt4o"]?.outputTokens == 3)
            #expect(stats.models["instruct"]?.outputTokens == 3)
        }
    }

    @Test func missingAPIVersionIsAzures404() async throws {
        try await withMock { mock in
            let result = try await Curl.request(
                mock.baseURL + Self.chatPath,
                json: #"{"max_tokens":4,"messages":\#(Self.messages)}"#,
                headers: ["api-key": "k"]
            )
            #expect(result.status == 404)
            let error = try #require(result.json.object("error"))
            #expect(error.string("code") == "404")
            #expect(error.string("message")?.hasPrefix("Resource not found (mock; request ID ") == true)
            #expect(error.string("message")?.contains(result.headers["x-request-id"] ?? "absent") == true)
            let stats = mock.stats()
            #expect(stats.azure.requests == 1)
            #expect(stats.azure.apiVersions == ["": 1])
            #expect(stats.azure.lastAPIVersion == nil)
            #expect(stats.statuses == ["404": 1])
            #expect(stats.models["prod-gpt4o"]?.statuses == ["404": 1])
            #expect(stats.completedResponses == 0)

            let empty = try await Curl.request(
                mock.baseURL + Self.chatPath + "?api-version=",
                json: #"{"max_tokens":4,"messages":\#(Self.messages)}"#,
                headers: ["api-key": "k"]
            )
            #expect(empty.status == 404)
        }
    }

    @Test func aKeyOrABearerTokenIsRequired() async throws {
        try await withMock { mock in
            let url = mock.baseURL + Self.chatPath + "?api-version=2024-10-21"
            let body = #"{"max_tokens":2,"messages":\#(Self.messages)}"#
            let missing = try await Curl.request(url, json: body)
            #expect(missing.status == 401)
            #expect(missing.json.object("error")?.string("code") == "401")
            #expect(missing.json.object("error")?.string("message")?.hasPrefix("Access denied") == true)
            #expect(mock.stats().azure.lastAPIKey == nil)

            let bearer = try await Curl.request(url, json: body, headers: ["authorization": "Bearer entra-token"])
            #expect(bearer.status == 200)
            #expect(mock.stats().credentials["Bearer entra-token"] == 1)

            let stats = mock.stats()
            #expect(stats.statuses == ["401": 1, "200": 1])
            #expect(stats.models["prod-gpt4o"]?.requests == 2)
            #expect(stats.models["prod-gpt4o"]?.outputTokens == 2)
        }
    }

    @Test func otherAzurePathsAreNotFound() async throws {
        try await withMock { mock in
            let images = try await Curl.request(
                mock.baseURL + "/openai/deployments/dalle/images/generations?api-version=2024-10-21",
                json: #"{"prompt":"a cat"}"#,
                headers: ["api-key": "k"]
            )
            #expect(images.status == 404)
            let noDeployment = try await Curl.request(
                mock.baseURL + "/openai/deployments//chat/completions?api-version=2024-10-21",
                json: #"{"messages":\#(Self.messages)}"#,
                headers: ["api-key": "k"]
            )
            #expect(noDeployment.status == 404)
            #expect(mock.stats().azure.requests == 0)
        }
    }
}
