/// The client-facing endpoints the egress listener serves, and how a request line maps to one.
public enum Endpoint: String, Sendable, Equatable, CaseIterable {
    case chatCompletions = "/v1/chat/completions"
    case completions = "/v1/completions"
    case embeddings = "/v1/embeddings"
    case responses = "/v1/responses"
    case models = "/v1/models"
    case messages = "/v1/messages"
    case countTokens = "/v1/messages/count_tokens"

    /// The API family whose shape the endpoint's callers expect.
    public var family: APIFamily {
        switch self {
        case .messages, .countTokens: return .anthropic
        default: return .openai
        }
    }

    /// The only method the endpoint accepts.
    public var method: String { self == .models ? "GET" : "POST" }

    /// Whether the request carries a `model` to route on (everything but `GET /v1/models`).
    public var isRouted: Bool { self != .models }

    /// Whether the endpoint's responses carry token usage that costs money.
    public var isMetered: Bool { self != .models && self != .countTokens }

    /// Whether OpenAI streams of this endpoint report usage only when asked via
    /// `stream_options.include_usage`.
    public var usageNeedsStreamOption: Bool { self == .chatCompletions || self == .completions }

    /// Short stable label for logs and metrics.
    public var label: String {
        switch self {
        case .chatCompletions: return "chat_completions"
        case .completions: return "completions"
        case .embeddings: return "embeddings"
        case .responses: return "responses"
        case .models: return "models"
        case .messages: return "messages"
        case .countTokens: return "count_tokens"
        }
    }

    /// What a method and path resolve to.
    public enum Resolution: Sendable, Equatable {
        case endpoint(Endpoint)
        case methodNotAllowed(allowed: String)
        case notFound
    }

    /// Resolves a request line. `path` may carry a query string, which is ignored here.
    public static func resolve(method: String, path: String) -> Resolution {
        let bare = Endpoint.pathWithoutQuery(path)
        let trimmed = bare.utf8.count > 1 && bare.utf8.last == UInt8(ascii: "/") ? bare.dropLast() : bare
        guard let endpoint = Endpoint.matching(trimmed) else { return .notFound }
        if method == endpoint.method || (endpoint == .models && method == "HEAD") {
            return .endpoint(endpoint)
        }
        return .methodNotAllowed(allowed: endpoint.method)
    }

    /// The endpoint whose path is exactly `path` (no allocation, unlike `init(rawValue:)`).
    static func matching(_ path: Substring) -> Endpoint? {
        switch path {
        case "/v1/chat/completions": return .chatCompletions
        case "/v1/completions": return .completions
        case "/v1/embeddings": return .embeddings
        case "/v1/responses": return .responses
        case "/v1/models": return .models
        case "/v1/messages": return .messages
        case "/v1/messages/count_tokens": return .countTokens
        default: return nil
        }
    }

    /// The path before any `?`.
    public static func pathWithoutQuery(_ path: String) -> Substring {
        if let question = path.utf8.firstIndex(of: UInt8(ascii: "?")) { return path[..<question] }
        return Substring(path)
    }

    /// The family whose error shape suits a request that matched no endpoint: Anthropic when
    /// the path or the headers say so, OpenAI otherwise.
    public static func guessFamily(path: String, hasAnthropicHeaders: Bool) -> APIFamily {
        if hasAnthropicHeaders || path.hasPrefix("/v1/messages") { return .anthropic }
        return .openai
    }
}
