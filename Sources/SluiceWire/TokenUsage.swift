/// Token counts of one call, normalised across providers.
///
/// `inputTokens` counts every prompt token, cached ones included (OpenAI's `prompt_tokens`;
/// Anthropic's `input_tokens + cache_read_input_tokens + cache_creation_input_tokens`), and
/// `cachedInputTokens` is the part of it served from the provider's prompt cache.
public struct TokenUsage: Sendable, Equatable {
    public var inputTokens: Int
    public var outputTokens: Int
    public var cachedInputTokens: Int

    public init(inputTokens: Int = 0, outputTokens: Int = 0, cachedInputTokens: Int = 0) {
        self.inputTokens = inputTokens
        self.outputTokens = outputTokens
        self.cachedInputTokens = cachedInputTokens
    }

    /// Input tokens billed at the full input price.
    public var uncachedInputTokens: Int { max(0, inputTokens - cachedInputTokens) }
}

/// Reads token usage out of provider responses (whole JSON bodies or single SSE payloads).
public enum UsageParser {
    /// Usage from a non-streaming response body: its top-level `usage` object.
    public static func usage(inResponseBody bytes: UnsafeRawBufferPointer, family: APIFamily) -> TokenUsage? {
        // Providers put `usage` at or near the end: look there first, and scan the whole
        // body only when the tail has none (a quote inside a JSON string is always escaped,
        // so a bare `"usage"` key cannot come from message text).
        let window = min(bytes.count, 4096)
        let start = bytes.count - window
        if let range = lastUsageObject(in: UnsafeRawBufferPointer(rebasing: bytes[start...])) {
            let absolute = (range.lowerBound + start)..<(range.upperBound + start)
            // Only a member of the outermost object counts (not a `usage` inside a message).
            if JSONScanner.isRestOfObject(bytes, from: absolute.upperBound) {
                return parseUsageObject(bytes, absolute, family: family)
            }
        }
        guard let object = try? JSONScanner.scanObject(bytes),
              let usage = object.member("usage"), usage.kind == .object
        else { return nil }
        return parseUsageObject(bytes, usage.valueRange, family: family)
    }

    /// Usage from the end of a JSON body too large to hold whole: the last `"usage"`
    /// member whose object lies entirely inside `tail` (providers put usage last).
    public static func usage(inTail tail: UnsafeRawBufferPointer, family: APIFamily) -> TokenUsage? {
        guard let range = lastUsageObject(in: tail) else { return nil }
        return parseUsageObject(tail, range, family: family)
    }

    /// The byte range of the last complete `"usage": {…}` object in `tail`.
    static func lastUsageObject(in tail: UnsafeRawBufferPointer) -> Range<Int>? {
        let key = Array("\"usage\"".utf8)
        var position = tail.count - key.count
        while position >= 0 {
            if tail[position] == key[0], (0..<key.count).allSatisfy({ tail[position + $0] == key[$0] }) {
                var cursor = position + key.count
                while cursor < tail.count, [0x20, 0x09, 0x0A, 0x0D].contains(tail[cursor]) { cursor += 1 }
                if cursor < tail.count, tail[cursor] == UInt8(ascii: ":") {
                    cursor += 1
                    while cursor < tail.count, [0x20, 0x09, 0x0A, 0x0D].contains(tail[cursor]) { cursor += 1 }
                    if cursor < tail.count, tail[cursor] == UInt8(ascii: "{"),
                       let object = try? JSONScanner.scanObject(tail, in: cursor..<tail.count) {
                        return object.openBrace..<(object.closeBrace + 1)
                    }
                }
            }
            position -= 1
        }
        return nil
    }

    /// Usage from the usage object whose bytes are at `range`.
    public static func parseUsageObject(_ bytes: UnsafeRawBufferPointer, _ range: Range<Int>, family: APIFamily) -> TokenUsage? {
        guard let object = try? JSONScanner.scanObject(bytes, in: range) else { return nil }
        func int(_ key: String) -> Int? {
            guard let member = object.member(key), member.kind == .number else { return nil }
            return integer(bytes, member.valueRange)
        }
        func nestedInt(_ key: String, _ inner: String) -> Int? {
            guard let member = object.member(key), member.kind == .object,
                  let nested = try? JSONScanner.scanObject(bytes, in: member.valueRange),
                  let value = nested.member(inner), value.kind == .number
            else { return nil }
            return integer(bytes, value.valueRange)
        }
        switch family {
        case .openai:
            let input = int("prompt_tokens") ?? int("input_tokens")
            let output = int("completion_tokens") ?? int("output_tokens")
            guard input != nil || output != nil else { return nil }
            let cached = nestedInt("prompt_tokens_details", "cached_tokens")
                ?? nestedInt("input_tokens_details", "cached_tokens") ?? 0
            return TokenUsage(inputTokens: input ?? 0, outputTokens: output ?? 0, cachedInputTokens: cached)
        case .anthropic:
            let input = int("input_tokens")
            let output = int("output_tokens")
            guard input != nil || output != nil else { return nil }
            let cacheRead = int("cache_read_input_tokens") ?? 0
            let cacheWrite = int("cache_creation_input_tokens") ?? 0
            return TokenUsage(
                inputTokens: (input ?? 0) + cacheRead + cacheWrite,
                outputTokens: output ?? 0,
                cachedInputTokens: cacheRead
            )
        }
    }

    /// The integer at `range` (a JSON number); fractions and exponents are truncated away.
    static func integer(_ bytes: UnsafeRawBufferPointer, _ range: Range<Int>) -> Int? {
        var value = 0
        var negative = false
        var sawDigit = false
        for offset in range {
            let byte = bytes[offset]
            if byte == UInt8(ascii: "-") { negative = true; continue }
            guard byte >= UInt8(ascii: "0"), byte <= UInt8(ascii: "9") else { break }
            let (product, overflow1) = value.multipliedReportingOverflow(by: 10)
            let (sum, overflow2) = product.addingReportingOverflow(Int(byte - UInt8(ascii: "0")))
            guard !overflow1, !overflow2 else { return nil }
            value = sum
            sawDigit = true
        }
        guard sawDigit else { return nil }
        return negative ? -value : value
    }
}
