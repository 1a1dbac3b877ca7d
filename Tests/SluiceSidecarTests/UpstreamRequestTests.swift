import NIOCore
import NIOHTTP1
import SluicePolicy
import Testing
@testable import SluiceSidecar
import SluiceWire

/// The request one attempt sends: built per target from the same call.
@Suite struct UpstreamRequestTests {
    let stages: [any CallStage] = [TraceStage(), ParseStage(), IdentifyStage(defaults: Attribution()), RouteStage()]

    func routed(_ body: String, path: String = "/v1/chat/completions", headers: [(String, String)] = [], secrets: [String: String] = ["openai": "sk-o", "anthropic": "sk-a"]) throws -> Call {
        let snapshot = try RuntimeSnapshot(policy: testPolicy(), version: "t")
        var buffer = ByteBuffer()
        buffer.writeString(body)
        let head = HTTPRequestHead(version: .http1_1, method: .POST, uri: path, headers: HTTPHeaders(headers))
        let call = Call(id: "req-9", head: head, body: buffer, transport: .h1, startNanos: 0, snapshot: snapshot, credentials: CredentialSet(secrets: secrets), family: Endpoint.guessFamily(path: path, hasAnthropicHeaders: false))
        #expect(run(stages, call) == nil)
        return call
    }

    func model(_ call: Call, _ name: String) throws -> ResolvedModel {
        try #require(call.snapshot.modelsByClientName[name])
    }

    @Test func rewritesTheModelAndKeepsTheRestOfTheBody() throws {
        let call = try routed(#"{"model":"fast","messages":[]}"#)
        let request = UpstreamRequest(for: call, target: try #require(call.target))
        #expect(String(buffer: request.body) == #"{"model":"gpt-4o-mini-2024-07-18","messages":[]}"#)
        #expect(request.head.headers.first(name: "content-length") == String(request.body.readableBytes))
        #expect(request.hideInjectedUsage == false)
    }

    @Test func openAIStreamsAskForUsageAndHideIt() throws {
        let call = try routed(#"{"model":"gpt-4o","stream":true}"#)
        let request = UpstreamRequest(for: call, target: try #require(call.target))
        #expect(String(buffer: request.body) == #"{"model":"gpt-4o","stream":true,"stream_options":{"include_usage":true}}"#)
        #expect(request.hideInjectedUsage)
    }

    @Test func usageTheClientAskedForIsNotHidden() throws {
        let call = try routed(#"{"model":"gpt-4o","stream":true,"stream_options":{"include_usage":true}}"#)
        let request = UpstreamRequest(for: call, target: try #require(call.target))
        #expect(request.hideInjectedUsage == false)
        #expect(String(buffer: request.body).components(separatedBy: "include_usage").count == 2)
    }

    @Test func eachTargetGetsItsOwnCredentialURIAndModel() throws {
        let call = try routed(#"{"model":"claude-haiku","max_tokens":5}"#, path: "/v1/messages?beta=true", headers: [("x-api-key", "app-key"), ("authorization", "Bearer app")])
        let anthropic = UpstreamRequest(for: call, target: try model(call, "claude-haiku"))
        #expect(anthropic.head.uri == "/prefix/v1/messages?beta=true")
        #expect(anthropic.head.headers[canonicalForm: "x-api-key"] == ["sk-a"])
        #expect(anthropic.head.headers.first(name: "authorization") == nil)
        #expect(anthropic.head.headers.first(name: "anthropic-version") == "2023-06-01")
        #expect(anthropic.head.headers.first(name: "host") == "127.0.0.1:10")
        #expect(String(buffer: anthropic.body) == #"{"model":"claude-3-5-haiku-latest","max_tokens":5}"#)
        // The same call rebuilt for another provider (what failover does).
        let openai = UpstreamRequest(for: call, target: try model(call, "gpt-4o"))
        #expect(openai.head.uri == "/v1/messages?beta=true")
        #expect(openai.head.headers[canonicalForm: "authorization"] == ["Bearer sk-o"])
        #expect(openai.head.headers.first(name: "x-api-key") == nil)
        #expect(openai.head.headers.first(name: "host") == "127.0.0.1:9")
        #expect(String(buffer: openai.body) == #"{"model":"gpt-4o","max_tokens":5}"#)
    }

    @Test func missingCredentialSendsNone() throws {
        let call = try routed(#"{"model":"fast"}"#, headers: [("authorization", "Bearer app")], secrets: [:])
        let request = UpstreamRequest(for: call, target: try #require(call.target))
        #expect(request.head.headers.first(name: "authorization") == nil)
    }

    @Test func dropsHopByHopConnectionNamedAndAccountHeaders() throws {
        let call = try routed(#"{"model":"fast"}"#, headers: [
            ("connection", "keep-alive, x-private-hop"), ("x-private-hop", "secret"), ("keep-alive", "timeout=5"),
            ("openai-organization", "org-app"), ("openai-project", "proj-app"), ("x-sluice-tenant", "t"),
            ("proxy-authorization", "p"), ("openai-beta", "assistants=v2"), ("x-request-id", "client-id"),
        ])
        let headers = UpstreamRequest(for: call, target: try #require(call.target)).head.headers
        for dropped in ["connection", "x-private-hop", "keep-alive", "openai-organization", "openai-project", "x-sluice-tenant", "proxy-authorization"] {
            #expect(headers.first(name: dropped) == nil, "\(dropped) must not be forwarded")
        }
        #expect(headers.first(name: "openai-beta") == "assistants=v2")
        #expect(headers[canonicalForm: "x-request-id"] == ["req-9"])
        let traceparent = try #require(headers.first(name: "traceparent"))
        #expect(traceparent.hasPrefix("00-") && traceparent.split(separator: "-").count == 4)
    }
}
