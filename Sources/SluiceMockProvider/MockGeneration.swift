import Foundation
import NIOCore
import NIOHTTP1

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
