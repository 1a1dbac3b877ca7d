import NIOHTTP1
import Testing
@testable import SluiceSidecar

@Suite struct HeaderPolicyTests {
    @Test func appCredentialsAndHopByHopNeverGoUpstream() {
        let forwarded = HeaderPolicy.forwardedRequestHeaders(HTTPHeaders([
            ("Authorization", "Bearer app"), ("x-api-key", "app"), ("Connection", "keep-alive"), ("Host", "127.0.0.1"),
            ("x-sluice-tenant", "t"), ("Accept-Encoding", "gzip"), ("content-type", "application/json"),
            ("OpenAI-Beta", "assistants=v2"), ("anthropic-version", "2023-06-01"), ("x-mock-tps", "5"),
        ]))
        let names = Set(forwarded.map { $0.name.lowercased() })
        #expect(names == ["content-type", "openai-beta", "anthropic-version", "x-mock-tps"])
    }

    @Test func upstreamRequestIDIsRenamed() {
        let relayed = HeaderPolicy.relayedResponseHeaders(HTTPHeaders([
            ("x-request-id", "req_abc"), ("content-length", "10"), ("set-cookie", "a=b"), ("openai-processing-ms", "12"),
        ]))
        #expect(relayed.first(name: "x-sluice-upstream-request-id") == "req_abc")
        #expect(relayed.first(name: "x-request-id") == nil)
        #expect(relayed.first(name: "content-length") == nil)
        #expect(relayed.first(name: "set-cookie") == nil)
        #expect(relayed.first(name: "openai-processing-ms") == "12")
    }
}
