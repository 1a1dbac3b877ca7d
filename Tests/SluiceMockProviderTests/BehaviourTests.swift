import Foundation
import SluiceMockProvider
import Testing

@Suite("Errors, misbehaviour, connections")
struct BehaviourTests {
    static let chat = #"{"model":"gpt-4o","max_tokens":6,"messages":[{"role":"user","content":"Hello there"}]}"#
    static let chatStream = #"{"model":"gpt-4o","max_tokens":6,"stream":true,"stream_options":{"include_usage":true},"messages":[{"role":"user","content":"Hello there"}]}"#
    static let messagesStream = #"{"model":"claude-x","max_tokens":6,"stream":true,"messages":[{"role":"user","content":"Hello there"}]}"#

    @Test func providerShapedErrors() async throws {
        try await withMock { mock in
            let notFound = try await Curl.request(mock.baseURL + "/v1/nope", json: "{}")
            #expect(notFound.status == 404)
            let openAIError = try #require(notFound.json.object("error"))
            #expect(openAIError.string("type") == "invalid_request_error")
            #expect(openAIError.string("message") != nil)
            #expect(openAIError.keys.contains("param") && openAIError.keys.contains("code"))

            let anthropicNotFound = try await Curl.request(mock.baseURL + "/v1/messages/nope", json: "{}")
            #expect(anthropicNotFound.status == 404)
            #expect(anthropicNotFound.json.string("type") == "error")
            #expect(anthropicNotFound.json.object("error")?.string("type") == "not_found_error")

            let badJSON = try await Curl.request(mock.baseURL + "/v1/chat/completions", json: "{nope")
            #expect(badJSON.status == 400)
            #expect(badJSON.json.object("error")?.string("type") == "invalid_request_error")
            let badAnthropic = try await Curl.request(mock.baseURL + "/v1/messages", json: "[1,2]")
            #expect(badAnthropic.status == 400)
            #expect(badAnthropic.json.object("error")?.string("type") == "invalid_request_error")

            let injected = try await Curl.request(mock.baseURL + "/v1/chat/completions", json: Self.chat, headers: ["x-mock-status": "500"])
            #expect(injected.status == 500)
            #expect(injected.json.object("error")?.string("type") == "server_error")
            let overloaded = try await Curl.request(mock.baseURL + "/v1/messages", json: Self.messagesStream, headers: ["x-mock-status": "529"])
            #expect(overloaded.status == 529)
            #expect(overloaded.json.object("error")?.string("type") == "overloaded_error")

            let stats = mock.stats()
            #expect(stats.statuses == ["404": 2, "400": 2, "500": 1, "529": 1])
            #expect(stats.requests == 6)
            #expect(stats.models["gpt-4o"]?.requests == 1)
            #expect(stats.models["gpt-4o"]?.outputTokens == 0)
            #expect(stats.completedResponses == 0)
        }
    }

    @Test func rateLimitsCarryRetryAfter() async throws {
        try await withMock(MockProviderConfiguration(retryAfterSeconds: 7)) { mock in
            let openAI = try await Curl.request(mock.baseURL + "/v1/chat/completions", json: Self.chat, headers: ["x-mock-status": "429"])
            #expect(openAI.status == 429)
            #expect(openAI.headers["retry-after"] == "7")
            #expect(openAI.json.object("error")?.string("code") == "rate_limit_exceeded")
            let anthropic = try await Curl.request(mock.baseURL + "/v1/messages", json: Self.messagesStream, headers: ["x-mock-status": "429"])
            #expect(anthropic.status == 429)
            #expect(anthropic.headers["retry-after"] == "7")
            #expect(anthropic.json.object("error")?.string("type") == "rate_limit_error")
        }
        try await withMock(MockProviderConfiguration(rateLimitRate: 1)) { mock in
            let result = try await Curl.request(mock.baseURL + "/v1/chat/completions", json: Self.chat)
            #expect(result.status == 429)
            #expect(result.headers["retry-after"] == "1")
        }
        try await withMock(MockProviderConfiguration(errorRate: 1)) { mock in
            let result = try await Curl.request(mock.baseURL + "/v1/messages", json: Self.messagesStream)
            #expect(result.status == 500)
            #expect(result.json.object("error")?.string("type") == "api_error")
        }
    }

    @Test func resetBeforeClosesWithoutAnswer() async throws {
        try await withMock { mock in
            let result = try await Curl.request(mock.baseURL + "/v1/chat/completions", json: Self.chat, headers: ["x-mock-reset": "before"])
            #expect(result.exitCode != 0)
            #expect(result.status == 0)
            let stats = mock.stats()
            #expect(stats.resets == 1)
            #expect(stats.requests == 1)
            #expect(stats.statuses.isEmpty)
            // The server keeps serving.
            let next = try await Curl.request(mock.baseURL + "/v1/chat/completions", json: Self.chat)
            #expect(next.status == 200)
        }
    }

    @Test func resetMidCountsNoTokens() async throws {
        try await withMock { mock in
            let result = try await Curl.request(
                mock.baseURL + "/v1/chat/completions",
                json: Self.chatStream,
                headers: ["x-mock-reset": "mid"]
            )
            #expect(result.exitCode != 0)
            #expect(result.status == 200)
            let events = result.events
            // The role chunk and half of the six content chunks.
            #expect(events.count == 4)
            #expect(!result.body.contains("[DONE]"))
            let stats = mock.stats()
            #expect(stats.resets == 1)
            #expect(stats.streamedEvents == 4)
            #expect(stats.completedResponses == 0)
            #expect(stats.models["gpt-4o"]?.requests == 1)
            #expect(stats.models["gpt-4o"]?.inputTokens == 0)
            #expect(stats.models["gpt-4o"]?.outputTokens == 0)
        }
    }

    @Test func resetMidCutsAJSONBody() async throws {
        try await withMock { mock in
            let result = try await Curl.request(
                mock.baseURL + "/v1/messages",
                json: #"{"max_tokens":50,"messages":[{"role":"user","content":"Hello there"}]}"#,
                headers: ["x-mock-reset": "mid"]
            )
            #expect(result.exitCode != 0)
            #expect(result.status == 200)
            #expect(result.json.isEmpty)
            let stats = mock.stats()
            #expect(stats.resets == 1)
            #expect(stats.completedResponses == 0)
            // A request without a model is counted under the stand-in name.
            #expect(stats.models["mock-model"]?.requests == 1)
            #expect(stats.models["mock-model"]?.outputTokens == 0)
        }
    }

    @Test func hangsHoldTheResponse() async throws {
        try await withMock { mock in
            async let head = Curl.request(
                mock.baseURL + "/v1/chat/completions",
                json: Self.chat,
                headers: ["x-mock-hang": "head"],
                extra: ["--max-time", "0.6"]
            )
            async let mid = Curl.request(
                mock.baseURL + "/v1/messages",
                json: Self.messagesStream,
                headers: ["x-mock-hang": "mid"],
                extra: ["--max-time", "0.6"]
            )
            // Other connections are served meanwhile.
            let ready = try await Curl.request(mock.baseURL + "/mock/ready", method: "GET")
            #expect(ready.status == 200)
            let (hungHead, hungMid) = try await (head, mid)
            #expect(hungHead.exitCode == 28)
            #expect(hungHead.status == 0)
            #expect(hungMid.exitCode == 28)
            #expect(hungMid.status == 200)
            #expect(hungMid.events.map { $0.name ?? "" } == [
                "message_start", "content_block_start", "ping", "content_block_delta", "content_block_delta", "content_block_delta",
            ])
            let stats = mock.stats()
            #expect(stats.hangs == 2)
            #expect(stats.models["claude-x"]?.outputTokens == 0)
        }
    }

    @Test func pacingFollowsHeaders() async throws {
        try await withMock { mock in
            let clock = ContinuousClock()
            let start = clock.now
            let result = try await Curl.request(
                mock.baseURL + "/v1/chat/completions",
                json: Self.chatStream,
                headers: ["x-mock-latency-ms": "100", "x-mock-ttft-ms": "100", "x-mock-tps": "50"]
            )
            let elapsed = clock.now - start
            #expect(result.events.last?.data == "[DONE]")
            // 100 ms latency + 100 ms to the first token + 5 gaps of 20 ms.
            #expect(elapsed >= .milliseconds(300))
            #expect(elapsed < .seconds(3))
        }
    }

    @Test func keepAliveServesManyRequestsPerConnection() async throws {
        try await withMock { mock in
            let url = mock.baseURL + "/v1/chat/completions"
            let code = try await Curl.run([
                "-H", "content-type: application/json", "--data-binary", Self.chatStream,
                "-o", "/dev/null", "-o", "/dev/null", "-o", "/dev/null", "-o", "/dev/null",
                url, url, url, url,
            ])
            #expect(code == 0)
            let stats = mock.stats()
            #expect(stats.connections == 1)
            #expect(stats.requests == 4)
            #expect(stats.completedResponses == 4)
            #expect(stats.models["gpt-4o"]?.outputTokens == 24)
        }
    }

    @Test func concurrentStreams() async throws {
        try await withMock(MockProviderConfiguration(tokensPerSecond: 200)) { mock in
            let url = mock.baseURL + "/v1/messages"
            let count = 100
            var arguments = ["--parallel", "--parallel-max", "100", "-H", "content-type: application/json", "--data-binary", Self.messagesStream]
            for _ in 0..<count { arguments += ["-o", "/dev/null", url] }
            let code = try await Curl.run(arguments)
            #expect(code == 0)
            let stats = mock.stats()
            #expect(stats.requests == count)
            #expect(stats.completedResponses == count)
            let events = count * 12
            let output = count * 6
            let input = count * 3
            #expect(stats.streamedEvents == events)
            #expect(stats.models["claude-x"]?.outputTokens == output)
            #expect(stats.models["claude-x"]?.inputTokens == input)
        }
    }

    @Test func controlEndpoints() async throws {
        try await withMock { mock in
            _ = try await Curl.request(mock.baseURL + "/v1/chat/completions", json: Self.chat, headers: ["authorization": "Bearer a"])
            let over = try await Curl.request(mock.baseURL + "/mock/stats", method: "GET")
            #expect(over.status == 200)
            let decoded = try JSONDecoder().decode(MockProviderStats.self, from: Data(over.body.utf8))
            #expect(decoded == mock.stats())
            #expect(decoded.requests == 1)
            let raw = over.json
            #expect(raw.object("models")?.object("gpt-4o")?.int("input_tokens") == 3)
            #expect(raw.object("headers_seen")?.int("authorization") == 1)
            #expect(raw.object("last_request")?.string("path") == "/v1/chat/completions")

            let reset = try await Curl.request(mock.baseURL + "/mock/reset", method: "POST")
            #expect(reset.status == 200)
            #expect(mock.stats() == MockProviderStats())
            #expect(try await Curl.request(mock.baseURL + "/mock/ready", method: "GET").status == 200)
        }
    }

    @Test func servesHTTPSWithATestCA() async throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("sluice-mock-tls-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        try shell(
            """
            set -e
            openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -keyout ca.key -out ca.pem -days 1 \
              -subj "/CN=Sluice Test CA" -addext "basicConstraints=critical,CA:TRUE" -addext "keyUsage=critical,keyCertSign,cRLSign"
            openssl req -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -keyout server.key -out server.csr -subj "/CN=127.0.0.1"
            printf 'subjectAltName=IP:127.0.0.1,DNS:localhost\\nbasicConstraints=CA:FALSE\\nextendedKeyUsage=serverAuth\\n' > ext.cnf
            openssl x509 -req -in server.csr -CA ca.pem -CAkey ca.key -CAcreateserial -out server.pem -days 1 -extfile ext.cnf
            """,
            in: directory
        )
        let tls = MockProviderConfiguration.TLS(
            certificateChainFile: directory.appendingPathComponent("server.pem").path,
            privateKeyFile: directory.appendingPathComponent("server.key").path
        )
        try await withMock(MockProviderConfiguration(tls: tls)) { mock in
            #expect(mock.baseURL == "https://127.0.0.1:\(mock.port)")
            let trust = ["--cacert", directory.appendingPathComponent("ca.pem").path]
            let plain = try await Curl.request(mock.baseURL + "/v1/chat/completions", json: Self.chat, extra: trust)
            #expect(plain.status == 200)
            #expect(plain.json.object("usage")?.int("completion_tokens") == 6)
            let streamed = try await Curl.request(mock.baseURL + "/v1/chat/completions", json: Self.chatStream, extra: trust)
            #expect(streamed.events.last?.data == "[DONE]")
            let reset = try await Curl.request(
                mock.baseURL + "/v1/chat/completions",
                json: Self.chat,
                headers: ["x-mock-reset": "before"],
                extra: trust
            )
            #expect(reset.exitCode != 0)
            let cut = try await Curl.request(
                mock.baseURL + "/v1/chat/completions",
                json: Self.chatStream,
                headers: ["x-mock-reset": "mid"],
                extra: trust
            )
            #expect(cut.exitCode != 0)
            #expect(cut.events.count == 4)
            let untrusted = try await Curl.request(mock.baseURL + "/mock/ready", method: "GET")
            #expect(untrusted.exitCode != 0)
            #expect(mock.stats().resets == 2)
            #expect(mock.stats().models["gpt-4o"]?.outputTokens == 12)
        }
    }
}
