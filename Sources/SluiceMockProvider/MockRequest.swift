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
