import Foundation
import SluiceMockProvider
import Testing

@Suite("Scripted faults by model")
struct ScriptedFaultTests {
    static func chat(_ model: String, stream: Bool = false) -> String {
        let streaming = stream ? #""stream":true,"stream_options":{"include_usage":true},"# : ""
        return #"{"model":"\#(model)",\#(streaming)"max_tokens":4,"messages":[{"role":"user","content":"Hello there"}]}"#
    }

    static func messages(_ model: String, stream: Bool = false) -> String {
        #"{"model":"\#(model)","stream":\#(stream),"max_tokens":4,"messages":[{"role":"user","content":"Hello there"}]}"#
    }

    static func script(_ mock: MockProvider, _ json: String) async throws -> HTTPResult {
        try await Curl.request(mock.baseURL + "/mock/faults", json: json)
    }

    @Test func faultsAreConsumedInOrderThenTheFallbackAppliesForEver() async throws {
        try await withMock { mock in
            let installed = try await Self.script(
                mock,
                #"{"model":"gpt-4o","faults":[{"status":503},{"status":429,"retry_after":2},{"status":429,"retry_after_ms":300},{}],"then":{"status":500}}"#
            )
            #expect(installed.status == 200)
            let url = mock.baseURL + "/v1/chat/completions"
            var statuses: [Int] = []
            var results: [HTTPResult] = []
            for index in 0..<6 {
                let result = try await Curl.request(url, json: Self.chat("gpt-4o"))
                statuses.append(result.status)
                results.append(result)
                if index == 2 {
                    // Another model of the same provider is not affected.
                    let other = try await Curl.request(url, json: Self.chat("gpt-4o-mini"))
                    #expect(other.status == 200)
                }
            }
            #expect(statuses == [503, 429, 429, 200, 500, 500])
            #expect(results[0].json.object("error")?.string("type") == "server_error")
            #expect(results[0].headers["retry-after"] == nil)
            // Scripted headers are exactly the ones asked for.
            #expect(results[1].headers["retry-after"] == "2")
            #expect(results[1].headers["retry-after-ms"] == nil)
            #expect(results[1].json.object("error")?.string("code") == "rate_limit_exceeded")
            #expect(results[2].headers["retry-after-ms"] == "300")
            #expect(results[2].headers["retry-after"] == nil)
            #expect(results[3].json.object("usage")?.int("completion_tokens") == 4)
            #expect(results[4].json.object("error")?.string("type") == "server_error")

            let stats = mock.stats()
            let model = try #require(stats.models["gpt-4o"])
            #expect(model.requests == 6)
            #expect(model.statuses == ["503": 1, "429": 2, "200": 1, "500": 2])
            #expect(model.faults == 5)
            #expect(model.outputTokens == 4)
            #expect(model.sentOutputTokens == 4)
            #expect(stats.models["gpt-4o-mini"]?.statuses == ["200": 1])
            #expect(stats.models["gpt-4o-mini"]?.faults == 0)
            #expect(stats.statuses == ["503": 1, "429": 2, "200": 2, "500": 2])

            let listed = try await Curl.request(mock.baseURL + "/mock/faults", method: "GET").json
            let scripts = try #require(listed.array("scripts") as? [[String: Any]])
            #expect(scripts.count == 1)
            #expect(scripts.first?.string("model") == "gpt-4o")
            #expect(scripts.first?.int("consumed") == 6)
            #expect(scripts.first?.array("faults")?.count == 4)
            #expect(scripts.first?.object("then")?.int("status") == 500)
        }
    }

    @Test func anthropicFaultsAreAnthropicShaped() async throws {
        try await withMock { mock in
            _ = try await Self.script(mock, #"{"model":"claude-x","faults":[{"status":529},{"status":429,"retry_after":1,"retry_after_ms":1500}]}"#)
            let url = mock.baseURL + "/v1/messages"
            let overloaded = try await Curl.request(url, json: Self.messages("claude-x", stream: true))
            #expect(overloaded.status == 529)
            #expect(overloaded.json.string("type") == "error")
            #expect(overloaded.json.object("error")?.string("type") == "overloaded_error")
            #expect(overloaded.json.object("error")?.string("message")?.contains(overloaded.headers["request-id"] ?? "absent") == true)
            let limited = try await Curl.request(url, json: Self.messages("claude-x"))
            #expect(limited.status == 429)
            #expect(limited.json.object("error")?.string("type") == "rate_limit_error")
            #expect(limited.headers["retry-after"] == "1")
            #expect(limited.headers["retry-after-ms"] == "1500")
            // The list is used up and there is no `then`: normal answers.
            let normal = try await Curl.request(url, json: Self.messages("claude-x"))
            #expect(normal.status == 200)
            #expect(mock.stats().models["claude-x"]?.statuses == ["529": 1, "429": 1, "200": 1])
            #expect(mock.stats().lastError?.status == 429)
        }
    }

    @Test func aModelsOwnScriptWinsOverTheWildcard() async throws {
        try await withMock { mock in
            _ = try await Self.script(mock, #"{"model":"*","faults":[{"status":502},{"status":502}]}"#)
            _ = try await Self.script(mock, #"{"model":"gpt-4o","faults":[{}],"then":{"status":504}}"#)
            let url = mock.baseURL + "/v1/chat/completions"
            #expect(try await Curl.request(url, json: Self.chat("gpt-4o")).status == 200)
            #expect(try await Curl.request(url, json: Self.chat("gpt-4o")).status == 504)
            #expect(try await Curl.request(mock.baseURL + "/v1/messages", json: Self.messages("claude-x")).status == 502)
            #expect(try await Curl.request(url, json: Self.chat("gpt-4o-mini")).status == 502)
            #expect(try await Curl.request(url, json: Self.chat("gpt-4o-mini")).status == 200)
            let stats = mock.stats()
            #expect(stats.models["gpt-4o"]?.faults == 1)
            #expect(stats.models["claude-x"]?.faults == 1)
            #expect(stats.models["gpt-4o-mini"]?.statuses == ["502": 1, "200": 1])
        }
    }

    @Test func resetsAndHangsByScript() async throws {
        try await withMock { mock in
            _ = try await Self.script(
                mock,
                #"{"model":"gpt-4o","faults":[{"reset":"before"},{"reset":"mid"},{"hang":"head"},{"hang":"mid"}]}"#
            )
            let url = mock.baseURL + "/v1/chat/completions"
            let before = try await Curl.request(url, json: Self.chat("gpt-4o", stream: true))
            #expect(before.exitCode != 0)
            #expect(before.status == 0)
            let mid = try await Curl.request(url, json: Self.chat("gpt-4o", stream: true))
            #expect(mid.exitCode != 0)
            #expect(mid.status == 200)
            // The role chunk and half of the four content chunks.
            #expect(mid.events.count == 3)
            let hungHead = try await Curl.request(url, json: Self.chat("gpt-4o"), extra: ["--max-time", "1.5"])
            #expect(hungHead.exitCode == 28)
            #expect(hungHead.status == 0)
            let hungMid = try await Curl.request(url, json: Self.chat("gpt-4o", stream: true), extra: ["--max-time", "1.5"])
            #expect(hungMid.exitCode == 28)
            #expect(hungMid.status == 200)
            #expect(hungMid.events.count == 3)
            let after = try await Curl.request(url, json: Self.chat("gpt-4o"))
            #expect(after.status == 200)

            let model = try #require(mock.stats().models["gpt-4o"])
            #expect(model.resets == 2)
            #expect(model.hangs == 2)
            #expect(model.faults == 4)
            #expect(model.requests == 5)
            #expect(model.completedResponses == 1)
            #expect(model.statuses == ["200": 3])
            #expect(mock.stats().resets == 2)
            #expect(mock.stats().hangs == 2)
        }
    }

    @Test func slowFirstTokenByScript() async throws {
        try await withMock { mock in
            _ = try await Self.script(mock, #"{"model":"gpt-4o","faults":[{"ttft_ms":400},{"ttft_ms":400}]}"#)
            let url = mock.baseURL + "/v1/chat/completions"
            let clock = ContinuousClock()
            var start = clock.now
            let slowStream = try await Curl.request(url, json: Self.chat("gpt-4o", stream: true))
            #expect(clock.now - start >= .milliseconds(400))
            #expect(slowStream.events.last?.data == "[DONE]")
            start = clock.now
            let slowJSON = try await Curl.request(url, json: Self.chat("gpt-4o"))
            #expect(clock.now - start >= .milliseconds(400))
            #expect(slowJSON.status == 200)
            #expect(mock.stats().models["gpt-4o"]?.outputTokens == 8)
        }
    }

    @Test func azureRequestsMatchTheirDeployment() async throws {
        try await withMock { mock in
            _ = try await Self.script(mock, #"{"model":"prod-gpt4o","faults":[{"status":503,"retry_after":3}]}"#)
            let path = mock.baseURL + "/openai/deployments/prod-gpt4o/chat/completions"
            // Rejected by Azure's gateway (no api-version): no fault is consumed.
            let rejected = try await Curl.request(path, json: Self.chat("gpt-4o"), headers: ["api-key": "k"])
            #expect(rejected.status == 404)
            let failed = try await Curl.request(path + "?api-version=2024-10-21", json: Self.chat("gpt-4o"), headers: ["api-key": "k"])
            #expect(failed.status == 503)
            #expect(failed.headers["retry-after"] == "3")
            #expect(failed.json.object("error")?.string("type") == "server_error")
            let served = try await Curl.request(path + "?api-version=2024-10-21", json: Self.chat("gpt-4o"), headers: ["api-key": "k"])
            #expect(served.status == 200)
            #expect(mock.stats().models["prod-gpt4o"]?.statuses == ["404": 1, "503": 1, "200": 1])
            #expect(mock.stats().models["gpt-4o"] == nil)
        }
    }

    @Test func clearingAndResettingRemoveScripts() async throws {
        try await withMock { mock in
            let url = mock.baseURL + "/v1/chat/completions"
            _ = try await Self.script(mock, #"{"model":"*","then":{"status":500}}"#)
            #expect(try await Curl.request(url, json: Self.chat("a")).status == 500)
            let deleted = try await Curl.request(mock.baseURL + "/mock/faults", method: "DELETE")
            #expect(deleted.status == 200)
            #expect(try await Curl.request(url, json: Self.chat("a")).status == 200)

            _ = try await Self.script(mock, #"{"model":"*","then":{"status":500}}"#)
            #expect(try await Curl.request(mock.baseURL + "/mock/reset", method: "POST").status == 200)
            #expect(try await Curl.request(url, json: Self.chat("a")).status == 200)
            #expect((try await Curl.request(mock.baseURL + "/mock/faults", method: "GET").json.array("scripts"))?.isEmpty == true)

            // The Swift API does the same.
            mock.setFaults(MockFaultScript(model: "a", faults: [MockFault(status: 502)]))
            #expect(try await Curl.request(url, json: Self.chat("a")).status == 502)
            mock.setFaults(MockFaultScript(model: "a", faults: [], then: MockFault(status: 503)))
            #expect(try await Curl.request(url, json: Self.chat("a")).status == 503)
            mock.clearFaults()
            #expect(try await Curl.request(url, json: Self.chat("a")).status == 200)
        }
    }

    @Test func badScriptsAreRejected() async throws {
        try await withMock { mock in
            let bad = [
                #"[1]"#,
                #"{"faults":[{"status":500}]}"#,
                #"{"model":"m","faults":[{"status":200}]}"#,
                #"{"model":"m","faults":[{"status":500.5}]}"#,
                #"{"model":"m","faults":[{"hang":"sideways"}]}"#,
                #"{"model":"m","faults":[{"reset":"after"}]}"#,
                #"{"model":"m","faults":[{"retry_after":-1}]}"#,
                #"{"model":"m","faults":[{"stauts":500}]}"#,
                #"{"model":"m","faults":{"status":500}}"#,
                #"{"model":"m","faults":[],"than":{"status":500}}"#,
            ]
            for body in bad {
                let result = try await Self.script(mock, body)
                #expect(result.status == 400, "\(body)")
                #expect(result.json.string("error") != nil, "\(body)")
            }
            #expect(try await Curl.request(mock.baseURL + "/mock/faults", method: "PATCH").status == 405)
            // Nothing was installed.
            #expect(try await Curl.request(mock.baseURL + "/v1/chat/completions", json: Self.chat("m")).status == 200)
            #expect(throws: MockFaultError.self) { try MockFaultScript.parse(Data(#"{"model":"m","faults":[{"ttft_ms":"x"}]}"#.utf8)) }
            let parsed = try MockFaultScript.parse(
                Data(#"{"model":"m","faults":[{"status":429,"retry_after_ms":300},{"reset":"before"},{}],"then":null}"#.utf8)
            )
            #expect(parsed == MockFaultScript(model: "m", faults: [MockFault(status: 429, retryAfterMilliseconds: 300), MockFault(reset: .head), MockFault()]))
        }
    }

    @Test func configuredRateLimitsMaySendRetryAfterMilliseconds() async throws {
        try await withMock(MockProviderConfiguration(rateLimitRate: 1, retryAfterSeconds: 2, retryAfterMilliseconds: 250)) { mock in
            let result = try await Curl.request(mock.baseURL + "/v1/chat/completions", json: Self.chat("gpt-4o"))
            #expect(result.status == 429)
            #expect(result.headers["retry-after"] == "2")
            #expect(result.headers["retry-after-ms"] == "250")
        }
        try await withMock(MockProviderConfiguration(rateLimitRate: 1)) { mock in
            let result = try await Curl.request(mock.baseURL + "/v1/chat/completions", json: Self.chat("gpt-4o"))
            #expect(result.status == 429)
            #expect(result.headers["retry-after-ms"] == nil)
        }
    }
}
