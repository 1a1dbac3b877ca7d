// Endpoint: how request lines resolve, and what each endpoint is.
import Testing
@testable import SluiceWire

@Suite("Endpoint")
struct EndpointTests {
    @Test("each endpoint resolves from its method and path", arguments: Endpoint.allCases)
    func resolves(_ endpoint: Endpoint) {
        #expect(Endpoint.resolve(method: endpoint.method, path: endpoint.rawValue) == .endpoint(endpoint))
    }

    @Test("a trailing slash is ignored", arguments: Endpoint.allCases)
    func trailingSlash(_ endpoint: Endpoint) {
        #expect(Endpoint.resolve(method: endpoint.method, path: endpoint.rawValue + "/") == .endpoint(endpoint))
        #expect(Endpoint.resolve(method: endpoint.method, path: endpoint.rawValue + "/?a=b") == .endpoint(endpoint))
    }

    @Test("a query string is ignored", arguments: Endpoint.allCases)
    func queryString(_ endpoint: Endpoint) {
        for query in ["?", "?beta=true", "?api-version=2024-10-21&x=%2F/", "?next=/v1/models"] {
            #expect(Endpoint.resolve(method: endpoint.method, path: endpoint.rawValue + query) == .endpoint(endpoint))
        }
    }

    @Test("a wrong method names the one allowed", arguments: Endpoint.allCases)
    func wrongMethod(_ endpoint: Endpoint) {
        for method in ["GET", "POST", "PUT", "DELETE", "PATCH", "OPTIONS", "post", "get", ""] where method != endpoint.method {
            if endpoint == .models && method == "HEAD" { continue }
            #expect(Endpoint.resolve(method: method, path: endpoint.rawValue) == .methodNotAllowed(allowed: endpoint.method))
        }
    }

    @Test("HEAD is allowed where GET is")
    func head() {
        #expect(Endpoint.resolve(method: "HEAD", path: "/v1/models") == .endpoint(.models))
        #expect(Endpoint.resolve(method: "HEAD", path: "/v1/chat/completions") == .methodNotAllowed(allowed: "POST"))
    }

    @Test("unknown paths are not found", arguments: [
        "", "/", "?", "/v1", "/v1/", "/v1/chat", "/v1/chat/completions/extra", "/v1/chat/completions//",
        "/v2/chat/completions", "/V1/chat/completions", "/v1/Chat/Completions", "v1/chat/completions",
        "//v1/chat/completions", "/v1/models/gpt-4o", "/v1/messages/batches", "/v1/chat/completions%2F",
        " /v1/models", "/v1/models ", "/chat/completions", "https://api.openai.com/v1/chat/completions",
    ])
    func unknownPath(_ path: String) {
        for method in ["GET", "POST"] {
            #expect(Endpoint.resolve(method: method, path: path) == .notFound)
        }
    }

    @Test("paths, families, methods and labels", arguments: [
        (Endpoint.chatCompletions, "/v1/chat/completions", APIFamily.openai, "POST", "chat_completions", true, true, true),
        (.completions, "/v1/completions", .openai, "POST", "completions", true, true, true),
        (.embeddings, "/v1/embeddings", .openai, "POST", "embeddings", true, true, false),
        (.responses, "/v1/responses", .openai, "POST", "responses", true, true, false),
        (.models, "/v1/models", .openai, "GET", "models", false, false, false),
        (.messages, "/v1/messages", .anthropic, "POST", "messages", true, true, false),
        (.countTokens, "/v1/messages/count_tokens", .anthropic, "POST", "count_tokens", true, false, false),
    ])
    func properties(
        _ endpoint: Endpoint, _ path: String, _ family: APIFamily, _ method: String, _ label: String,
        _ routed: Bool, _ metered: Bool, _ needsStreamOption: Bool
    ) {
        #expect(endpoint.rawValue == path)
        #expect(endpoint.family == family)
        #expect(endpoint.method == method)
        #expect(endpoint.label == label)
        #expect(endpoint.isRouted == routed)
        #expect(endpoint.isMetered == metered)
        #expect(endpoint.usageNeedsStreamOption == needsStreamOption)
    }

    @Test("labels are unique")
    func uniqueLabels() {
        #expect(Set(Endpoint.allCases.map(\.label)).count == Endpoint.allCases.count)
    }

    @Test("pathWithoutQuery cuts at the first question mark", arguments: [
        ("/v1/models", "/v1/models"), ("/v1/models?x=1", "/v1/models"), ("/v1/models?x=1?y", "/v1/models"), ("?x", ""), ("", ""),
    ])
    func pathWithoutQuery(_ path: String, _ expected: String) {
        #expect(Endpoint.pathWithoutQuery(path) == expected)
    }

    @Test("guessFamily prefers Anthropic when the path or headers say so", arguments: [
        ("/v1/messages/batches", false, APIFamily.anthropic),
        ("/v1/messages", false, .anthropic),
        ("/v1/unknown", true, .anthropic),
        ("/v1/chat/completions/x", false, .openai),
        ("/", false, .openai),
    ])
    func guessFamily(_ path: String, _ headers: Bool, _ family: APIFamily) {
        #expect(Endpoint.guessFamily(path: path, hasAnthropicHeaders: headers) == family)
    }
}

@Suite("Endpoint matching") struct EndpointMatchingTests {
    @Test func everyCaseMatchesItsOwnPath() {
        for endpoint in Endpoint.allCases {
            #expect(Endpoint.matching(Substring(endpoint.rawValue)) == endpoint)
        }
    }
}
