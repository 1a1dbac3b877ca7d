import Testing
@testable import SluiceSidecar

@Suite struct UpstreamEndpointTests {
    @Test func parsesBaseURLs() throws {
        let openai = try #require(UpstreamEndpoint(baseURL: "https://api.openai.com"))
        #expect(openai == UpstreamEndpoint(useTLS: true, host: "api.openai.com", port: 443, pathPrefix: ""))
        #expect(openai.hostHeader == "api.openai.com")

        let local = try #require(UpstreamEndpoint(baseURL: "http://127.0.0.1:8080/openai/"))
        #expect(local == UpstreamEndpoint(useTLS: false, host: "127.0.0.1", port: 8080, pathPrefix: "/openai"))
        #expect(local.hostHeader == "127.0.0.1:8080")

        let v6 = try #require(UpstreamEndpoint(baseURL: "http://[::1]:9000"))
        #expect(v6.host == "::1")
        #expect(v6.hostHeader == "[::1]:9000")
    }

    @Test(arguments: ["ftp://x", "http://", "http://host:99999", "https://host/p?q=1", "api.openai.com"])
    func rejectsOthers(_ url: String) {
        #expect(UpstreamEndpoint(baseURL: url) == nil)
    }
}
