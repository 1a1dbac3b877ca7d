import Foundation
#if canImport(FoundationNetworking)
import FoundationNetworking
#endif
import SluiceMockProvider
import SluiceTestKit
import Testing

/// A live sidecar and mock provider over real loopback sockets.
@Suite(.serialized) struct SidecarIntegrationTests {
    func post(_ url: String, _ body: String, headers: [String: String] = [:]) async throws -> (Int, [String: String], Data) {
        var request = URLRequest(url: try #require(URL(string: url)))
        request.httpMethod = "POST"
        request.httpBody = Data(body.utf8)
        request.setValue("application/json", forHTTPHeaderField: "content-type")
        for (name, value) in headers { request.setValue(value, forHTTPHeaderField: name) }
        let (data, response) = try await URLSession.shared.data(for: request)
        let http = try #require(response as? HTTPURLResponse)
        var fields: [String: String] = [:]
        for (name, value) in http.allHeaderFields {
            if let name = name as? String, let value = value as? String { fields[name.lowercased()] = value }
        }
        return (http.statusCode, fields, data)
    }

    @Test func chatCallIsRoutedPricedAndCountedLikeTheMockCountedIt() async throws {
        let harness = try await SluiceTestHarness.start()
        defer { Task { await harness.shutdown() } }
        let (status, headers, data) = try await post(
            harness.egressURL + "/v1/chat/completions",
            #"{"model":"fast","messages":[{"role":"user","content":"How are you today?"}]}"#,
            headers: ["authorization": "Bearer app-key", "x-mock-cached-tokens": "2"]
        )
        #expect(status == 200)
        #expect(headers["x-sluice-model"] == "gpt-4o-mini")
        #expect(headers["x-sluice-route"] == "direct")
        let object = try #require(JSONSerialization.jsonObject(with: data) as? [String: Any])
        let usage = try #require(object["usage"] as? [String: Any])
        let input = try #require(usage["prompt_tokens"] as? Int)
        let output = try #require(usage["completion_tokens"] as? Int)

        let stats = harness.mock.stats()
        let served = try #require(stats.models["gpt-4o-mini-2024-07-18"])
        #expect(served.inputTokens == input)
        #expect(served.outputTokens == output)
        #expect(stats.credentials == [SluiceTestHarness.credential: 1] || stats.credentials == ["Bearer \(SluiceTestHarness.credential)": 1])

        let expected = (Double(input - 2) * 0.15 + 2 * 0.075 + Double(output) * 0.60) / 1_000_000
        let cost = try #require(headers["x-sluice-cost-usd"].flatMap(Double.init))
        #expect(abs(cost - expected) < 1e-10)
    }

    @Test func upstreamDownIs502InTheCallersShape() async throws {
        let harness = try await SluiceTestHarness.start(policy: { _ in
            SluiceTestHarness.policy(mockBaseURL: "http://127.0.0.1:1")
        })
        defer { Task { await harness.shutdown() } }
        let (status, headers, data) = try await post(harness.egressURL + "/v1/messages", #"{"model":"claude-haiku","max_tokens":5,"messages":[]}"#)
        #expect(status == 502)
        #expect(headers["x-sluice-error-code"] == "upstream_error")
        let object = try #require(JSONSerialization.jsonObject(with: data) as? [String: Any])
        #expect(object["type"] as? String == "error")
    }
}
