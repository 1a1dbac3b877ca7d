import NIOCore
import NIOHTTP1
import SluicePolicy
import Testing
@testable import SluiceSidecar
import SluiceWire

/// What each provider kind puts on the wire: Azure's deployment path, `api-version` and
/// `api-key`; extra headers; and a body translated for a target of the other vendor.
@Suite struct ProviderKindRequestTests {
    func policy() -> Policy {
        var policy = testPolicy()
        policy.providers["azure"] = Provider(
            name: "azure", kind: .azureOpenAI, baseURL: "http://127.0.0.1:11/base", credential: .environment("AZ"),
            apiVersion: "2024-10-21", deployments: ["gpt-4o-up": "prod gpt4o"], headers: ["x-team": "search"]
        )
        policy.models["gpt-az"] = Model(name: "gpt-az", provider: "azure", upstreamModel: "gpt-4o-up")
        policy.models["gpt-az-plain"] = Model(name: "gpt-az-plain", provider: "azure", upstreamModel: "other-up")
        return policy
    }

    func call(_ body: String, path: String = "/v1/chat/completions", headers: [(String, String)] = []) throws -> Call {
        let snapshot = try RuntimeSnapshot(policy: policy(), version: "t")
        var buffer = ByteBuffer()
        buffer.writeString(body)
        let head = HTTPRequestHead(version: .http1_1, method: .POST, uri: path, headers: HTTPHeaders(headers))
        let call = Call(id: "req-1", head: head, body: buffer, transport: .h1, startNanos: 0, snapshot: snapshot, credentials: CredentialSet(secrets: ["azure": "az-secret", "openai": "sk-o", "anthropic": "sk-a"]), family: Endpoint.guessFamily(path: path, hasAnthropicHeaders: false))
        let stages: [any CallStage] = [TraceStage(), ParseStage(), IdentifyStage(defaults: Attribution()), RouteStage()]
        #expect(run(stages, call) == nil)
        return call
    }

    @Test func azureGetsItsDeploymentPathVersionKeyAndExtraHeaders() throws {
        let call = try call(#"{"model":"gpt-az","messages":[]}"#, path: "/v1/chat/completions?foo=1&api-version=old")
        let request = UpstreamRequest(for: call, target: try #require(call.target))
        #expect(request.head.uri == "/base/openai/deployments/prod%20gpt4o/chat/completions?api-version=2024-10-21&foo=1")
        #expect(request.head.headers["api-key"] == ["az-secret"])
        #expect(request.head.headers["authorization"].isEmpty)
        #expect(request.head.headers["x-team"] == ["search"])
    }

    @Test func anAzureModelWithoutADeploymentEntryUsesItsUpstreamName() throws {
        let call = try call(#"{"model":"gpt-az-plain","messages":[]}"#, path: "/v1/embeddings")
        let request = UpstreamRequest(for: call, target: try #require(call.target))
        #expect(request.head.uri == "/base/openai/deployments/other-up/embeddings?api-version=2024-10-21")
    }

    @Test func aClientHeaderWinsOverNothingButExtraHeadersNeverDuplicate() throws {
        let call = try call(#"{"model":"gpt-az","messages":[]}"#, headers: [("x-team", "from-app")])
        let request = UpstreamRequest(for: call, target: try #require(call.target))
        #expect(request.head.headers["x-team"] == ["from-app"])
    }

    @Test func anOpenAICallToAnAnthropicModelIsTranslatedAndSentToMessages() throws {
        let call = try call(#"{"model":"claude-haiku","messages":[{"role":"system","content":"Be brief."},{"role":"user","content":"Hi"}],"stream":true}"#, headers: [("openai-beta", "x"), ("anthropic-beta", "tools")])
        let target = try #require(call.target)
        let request = try UpstreamRequest.translated(for: call, target: target)
        #expect(request.head.uri == "/prefix/v1/messages")
        let body = String(buffer: request.body)
        #expect(body.contains(#""model":"claude-3-5-haiku-latest""#))
        #expect(body.contains(#""system":"Be brief.""#))
        #expect(request.head.headers["x-api-key"] == ["sk-a"])
        #expect(request.head.headers["anthropic-version"] == ["2023-06-01"])
        // The client's own vendor headers do not cross over; the other vendor's do.
        #expect(request.head.headers["openai-beta"].isEmpty)
        #expect(request.head.headers["anthropic-beta"] == ["tools"])
        // The translated stream always carries usage; an OpenAI client that did not ask has it hidden.
        #expect(request.hideInjectedUsage)
    }

    @Test func anEndpointThatCannotBeTranslatedIsRefused() throws {
        let call = try call(#"{"model":"claude-haiku","input":"x"}"#, path: "/v1/embeddings")
        #expect(throws: (any Error).self) { try UpstreamRequest.translated(for: call, target: try #require(call.target)) }
    }
}
