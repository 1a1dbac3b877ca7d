import Foundation
import NIOCore
import NIOHTTP1

/// Which provider's wire shapes a response uses.
enum ProviderFlavor: Sendable {
    case openAI
    case anthropic

    /// Shape for paths the mock does not serve.
    static func guess(path: String, headers: HTTPHeaders) -> ProviderFlavor {
        if path.hasPrefix("/v1/messages") || path.hasPrefix("/messages") || headers.contains(name: "anthropic-version") {
            return .anthropic
        }
        return .openAI
    }
}

/// The API endpoints served.
enum Endpoint: Sendable {
    case chatCompletions
    case completions
    case embeddings
    case responses
    case messages
    case countTokens

    init?(method: HTTPMethod, path: String) {
        guard method == .POST else { return nil }
        var trimmed = Substring(path)
        while trimmed.count > 1, trimmed.hasSuffix("/") { trimmed = trimmed.dropLast() }
        if trimmed.hasPrefix("/v1/") { trimmed = trimmed.dropFirst(3) }
        switch trimmed {
        case "/chat/completions": self = .chatCompletions
        case "/completions": self = .completions
        case "/embeddings": self = .embeddings
        case "/responses": self = .responses
        case "/messages": self = .messages
        case "/messages/count_tokens": self = .countTokens
        default: return nil
        }
    }

    var flavor: ProviderFlavor {
        switch self {
        case .messages, .countTokens: return .anthropic
        case .chatCompletions, .completions, .embeddings, .responses: return .openAI
        }
    }
}

/// A JSON document, decoded just far enough to read what the mock needs.
enum JSONValue: Decodable, Sendable {
    case null
    case bool(Bool)
    case number(Double)
    case string(String)
    case array([JSONValue])
    case object([String: JSONValue])

    init(from decoder: any Decoder) throws {
        let container = try decoder.singleValueContainer()
        if container.decodeNil() {
            self = .null
        } else if let value = try? container.decode(String.self) {
            self = .string(value)
        } else if let value = try? container.decode([String: JSONValue].self) {
            self = .object(value)
        } else if let value = try? container.decode([JSONValue].self) {
            self = .array(value)
        } else if let value = try? container.decode(Bool.self) {
            self = .bool(value)
        } else {
            self = .number(try container.decode(Double.self))
        }
    }

    subscript(key: String) -> JSONValue? {
        if case .object(let fields) = self { return fields[key] }
        return nil
    }

    var stringValue: String? {
        if case .string(let value) = self { return value }
        return nil
    }

    var boolValue: Bool? {
        if case .bool(let value) = self { return value }
        return nil
    }

    /// A non-negative integer, clamped to a sane range.
    var countValue: Int? {
        guard case .number(let value) = self, value.isFinite else { return nil }
        return Int(max(0, min(value, 1_000_000_000)))
    }
}

/// One input of an embeddings request.
struct EmbeddingInput: Sendable {
    var tokens: Int
    var hash: UInt64
}

/// What the mock reads from a request body.
struct ParsedRequest: Sendable {
    /// Stands in for a missing `model`.
    static let defaultModel = "mock-model"

    var model: String?
    var stream = false
    var includeUsage = false
    var maxTokens: Int?
    var textCharacters = 0
    var textHash: UInt64 = Hashing.fnvOffset
    var embeddingInputs: [EmbeddingInput] = []
    var dimensions: Int?
    var base64Embeddings = false
    /// The tool call to answer with (chat completions and messages with `tools`).
    var toolCall: ToolCallRequest?

    struct Invalid: Error {}

    static func parse(_ body: ByteBuffer?, endpoint: Endpoint) throws -> ParsedRequest {
        guard let body, body.readableBytes > 0 else { throw Invalid() }
        let root = try JSONDecoder().decode(JSONValue.self, from: Data(body.readableBytesView))
        guard case .object = root else { throw Invalid() }
        var request = ParsedRequest()
        request.model = root["model"]?.stringValue
        request.stream = root["stream"]?.boolValue ?? false
        request.includeUsage = root["stream_options"]?["include_usage"]?.boolValue ?? false
        request.maxTokens =
            root["max_completion_tokens"]?.countValue ?? root["max_tokens"]?.countValue
            ?? root["max_output_tokens"]?.countValue
        if endpoint == .embeddings {
            request.embeddingInputs = Self.embeddingInputs(root["input"])
            request.dimensions = root["dimensions"]?.countValue
            request.base64Embeddings = root["encoding_format"]?.stringValue == "base64"
            request.stream = false
        } else {
            for key in ["system", "instructions", "messages", "prompt", "input"] {
                if let value = root[key] {
                    Self.walkText(value, characters: &request.textCharacters, hash: &request.textHash)
                }
            }
            for text in ToolCallRequest.declarationText(root) {
                Self.walkText(.string(text), characters: &request.textCharacters, hash: &request.textHash)
            }
            request.toolCall = ToolCallRequest.choose(root, endpoint: endpoint)
        }
        if endpoint == .countTokens { request.stream = false }
        return request
    }

    /// Estimated input tokens: ceil(characters / 4), at least 1.
    var estimatedInputTokens: Int { Self.tokens(forCharacters: self.textCharacters) }

    static func tokens(forCharacters characters: Int) -> Int { max(1, (characters + 3) / 4) }

    /// Sums the text of message contents (strings, and `content`/`text` fields, recursively).
    private static func walkText(_ value: JSONValue, characters: inout Int, hash: inout UInt64) {
        switch value {
        case .string(let text):
            characters += text.unicodeScalars.count
            Hashing.fnv(&hash, text)
        case .array(let items):
            for item in items { self.walkText(item, characters: &characters, hash: &hash) }
        case .object(let fields):
            if let content = fields["content"] { self.walkText(content, characters: &characters, hash: &hash) }
            if let text = fields["text"] { self.walkText(text, characters: &characters, hash: &hash) }
        case .null, .bool, .number:
            break
        }
    }

    private static func embeddingInputs(_ value: JSONValue?) -> [EmbeddingInput] {
        func textInput(_ text: String) -> EmbeddingInput {
            var hash = Hashing.fnvOffset
            Hashing.fnv(&hash, text)
            return EmbeddingInput(tokens: Self.tokens(forCharacters: text.unicodeScalars.count), hash: hash)
        }
        func tokenInput(_ items: [JSONValue]) -> EmbeddingInput {
            var hash = Hashing.fnvOffset
            for item in items { Hashing.fnv(&hash, String(item.countValue ?? 0)) }
            return EmbeddingInput(tokens: max(1, items.count), hash: hash)
        }
        switch value {
        case .string(let text):
            return [textInput(text)]
        case .array(let items):
            if items.isEmpty { return [textInput("")] }
            if items.allSatisfy({ if case .number = $0 { return true } else { return false } }) {
                return [tokenInput(items)]
            }
            return items.map { item in
                switch item {
                case .string(let text): return textInput(text)
                case .array(let tokens): return tokenInput(tokens)
                default: return textInput("")
                }
            }
        default:
            return [textInput("")]
        }
    }
}

/// `x-mock-*` request headers: per-request overrides of the configuration.
struct MockOverrides: Sendable {
    enum Point: Sendable {
        case head
        case mid
    }

    var latencyMilliseconds: Int?
    var timeToFirstTokenMilliseconds: Int?
    var tokensPerSecond: Double?
    var outputTokens: Int?
    var cachedTokens: Int?
    var status: Int?
    var hang: Point?
    var reset: Point?
    /// Headers an error answer carries instead of the configured `Retry-After` (scripted faults).
    var retryHeaders: [(String, String)]?
    /// Added to the latency (a scripted `ttft_ms` on a response that is not streamed).
    var extraLatencyMilliseconds = 0

    init(_ headers: HTTPHeaders) {
        func int(_ name: String) -> Int? {
            headers.first(name: name).flatMap { Int($0.trimmingCharacters(in: .whitespaces)) }.map { max(0, $0) }
        }
        self.latencyMilliseconds = int("x-mock-latency-ms")
        self.timeToFirstTokenMilliseconds = int("x-mock-ttft-ms")
        self.tokensPerSecond = headers.first(name: "x-mock-tps")
            .flatMap { Double($0.trimmingCharacters(in: .whitespaces)) }
            .flatMap { $0.isFinite && $0 >= 0 ? $0 : nil }
        self.outputTokens = int("x-mock-output-tokens")
        self.cachedTokens = int("x-mock-cached-tokens")
        if let status = int("x-mock-status"), (400...599).contains(status) {
            self.status = status
        }
        switch headers.first(name: "x-mock-hang")?.lowercased() {
        case "head": self.hang = .head
        case "mid": self.hang = .mid
        default: self.hang = nil
        }
        switch headers.first(name: "x-mock-reset")?.lowercased() {
        case "before", "head": self.reset = .head
        case "mid": self.reset = .mid
        default: self.reset = nil
        }
    }

    /// Lays a scripted fault over the headers' overrides: each field it sets wins. A `ttft_ms`
    /// also delays the head of a response that is not streamed (its first token is all of it).
    mutating func apply(_ fault: MockFault, streaming: Bool) {
        if let status = fault.status {
            self.status = status
            self.retryHeaders = fault.retryHeaders
        }
        if let hang = fault.hang { self.hang = hang == .head ? .head : .mid }
        if let reset = fault.reset { self.reset = reset == .head ? .head : .mid }
        if let latency = fault.latencyMilliseconds { self.latencyMilliseconds = latency }
        if let ttft = fault.timeToFirstTokenMilliseconds {
            if streaming {
                self.timeToFirstTokenMilliseconds = ttft
            } else {
                self.extraLatencyMilliseconds += ttft
            }
        }
    }
}

/// Everything needed to render one successful response.
struct GenerationPlan: Sendable {
    var endpoint: Endpoint
    var model: String
    var stream: Bool
    var includeUsage: Bool
    var inputTokens: Int
    var cachedTokens: Int
    var outputTokens: Int
    /// The output stopped at the request's maximum.
    var truncated: Bool
    var requestedMaxTokens: Int?
    var tokens: TokenSource
    var embeddingInputs: [EmbeddingInput]
    var dimensions: Int
    var base64Embeddings: Bool
    /// Random-looking hex used in ids.
    var idSuffix: String
    var created: Int
    /// Answer with this tool call instead of text.
    var toolCall: PlannedToolCall?

    init(
        endpoint: Endpoint,
        request: ParsedRequest,
        overrides: MockOverrides,
        configuration: MockProviderConfiguration,
        sequence: UInt64
    ) {
        self.endpoint = endpoint
        self.model = request.model ?? ParsedRequest.defaultModel
        self.stream = request.stream
        self.includeUsage = request.includeUsage
        self.inputTokens = request.estimatedInputTokens
        self.cachedTokens = overrides.cachedTokens ?? 0
        var count: Int
        if let forced = overrides.outputTokens {
            count = min(forced, request.maxTokens ?? forced)
        } else if let requested = request.maxTokens {
            count = min(requested, max(0, configuration.maxOutputTokens))
        } else {
            count = configuration.outputTokens
        }
        count = max(0, min(count, 1_000_000))
        self.outputTokens = count
        self.requestedMaxTokens = request.maxTokens
        self.truncated = request.maxTokens.map { count >= $0 } ?? false
        let contentHash = Hashing.mix(request.textHash ^ Hashing.mix(configuration.seed))
        self.tokens = TokenSource(hash: contentHash)
        self.embeddingInputs = request.embeddingInputs
        self.dimensions = max(1, min(request.dimensions ?? 256, 4096))
        self.base64Embeddings = request.base64Embeddings
        let a = Hashing.mix((configuration.seed &+ sequence &* 0x9E37_79B9_7F4A_7C15) ^ contentHash)
        let b = Hashing.mix(a ^ 0xD1B5_4A32_D192_ED03)
        self.idSuffix = Hashing.hex(a) + Hashing.hex(b)
        self.created = Int(Date().timeIntervalSince1970)
        if let call = request.toolCall {
            let id = (endpoint == .messages ? "toolu_" : "call_") + String(self.idSuffix.prefix(24))
            self.toolCall = PlannedToolCall(request: call, id: id, fragments: call.fragments)
            self.outputTokens = call.outputTokens
            self.truncated = false
        }
    }

    /// The usage this response reports, as written (nil: it reports none).
    var reportedUsage: ReportedUsage? {
        switch self.endpoint {
        case .chatCompletions, .completions:
            if self.stream && !self.includeUsage { return nil }
            return ReportedUsage(input: self.inputTokens + self.cachedTokens, cached: self.cachedTokens, output: self.outputTokens)
        case .responses:
            return ReportedUsage(input: self.inputTokens + self.cachedTokens, cached: self.cachedTokens, output: self.outputTokens)
        case .messages:
            return ReportedUsage(input: self.inputTokens, cached: self.cachedTokens, output: self.outputTokens)
        case .embeddings:
            return ReportedUsage(input: self.embeddingInputs.reduce(0) { $0 + $1.tokens }, cached: 0, output: 0)
        case .countTokens:
            return nil
        }
    }
}

/// Small deterministic hashing helpers (FNV-1a and splitmix64).
enum Hashing {
    static let fnvOffset: UInt64 = 0xCBF2_9CE4_8422_2325

    static func fnv(_ hash: inout UInt64, _ text: String) {
        for byte in text.utf8 {
            hash = (hash ^ UInt64(byte)) &* 0x0000_0100_0000_01B3
        }
        hash = (hash ^ 0xFF) &* 0x0000_0100_0000_01B3
    }

    static func mix(_ value: UInt64) -> UInt64 {
        var z = value &+ 0x9E37_79B9_7F4A_7C15
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }

    /// Uniform in [0, 1).
    static func unit(_ value: UInt64) -> Double {
        Double(self.mix(value) >> 11) / Double(UInt64(1) << 53)
    }

    static func hex(_ value: UInt64) -> String {
        let digits = String(value, radix: 16)
        return String(repeating: "0", count: max(0, 16 - digits.count)) + digits
    }
}

/// Deterministic completion text: token `i` is a word picked by a hash of the request and the seed.
struct TokenSource: Sendable {
    var hash: UInt64

    /// Token `i` as it appears in the text (a leading space on all but the first).
    func piece(_ index: Int) -> String {
        let word = Int(Hashing.mix(self.hash &+ UInt64(truncatingIfNeeded: index)) % UInt64(Vocabulary.words.count))
        return index == 0 ? Vocabulary.words[word] : Vocabulary.spaced[word]
    }

    func text(count: Int) -> String {
        var text = ""
        text.reserveCapacity(count * 7)
        for index in 0..<max(0, count) { text += self.piece(index) }
        return text
    }
}

/// The word list of the mock's prose. No character in it needs JSON escaping.
enum Vocabulary {
    static let words: [String] = [
        "the", "a", "model", "token", "stream", "of", "and", "to", "is", "in", "proxy", "request",
        "response", "latency", "upstream", "that", "for", "with", "on", "as", "it", "be", "this",
        "sidecar", "policy", "budget", "cache", "prompt", "output", "input", "usage", "quickly",
        "slowly", "each", "every", "server", "client", "event", "chunk", "byte", "limit", "rate",
        "error", "retry", "count", "simple", "steady", "mock", "data", "value", "result", "system",
        "user", "assistant", "text", "word", "line", "end.", "done.", "again,", "then,", "so,",
        "we", "you",
    ]
    static let spaced: [String] = words.map { " " + $0 }
}
