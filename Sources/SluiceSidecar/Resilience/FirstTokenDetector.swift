import NIOCore
import SluiceWire

/// Tells whether a piece of an event stream carries the answer's first token (or its end,
/// or an error) rather than a preamble such as OpenAI's role chunk or Anthropic's
/// `message_start` — for the route's `first_token` timeout, which holds the preamble back
/// until a token arrives so that a stream slow to start can still fail over unseen.
///
/// A byte search for each API's markers, run only on the events before the first token.
enum FirstTokenDetector {
    private static let anthropicMarkers: [[UInt8]] = [
        "content_block_delta", "message_delta", "message_stop", "\"type\":\"error\"",
    ].map { Array($0.utf8) }
    private static let openAIMarkers: [[UInt8]] = [
        "\"tool_calls\"", "\"finish_reason\":\"", "[DONE]", "\"error\"", "_text.delta\"", "response.completed", "response.failed", "response.incomplete",
    ].map { Array($0.utf8) }
    /// A key followed by a non-empty string value: `"content":"x`.
    private static let openAIValues: [[UInt8]] = ["\"content\":\"", "\"text\":\"", "\"refusal\":\""].map { Array($0.utf8) }

    static func carriesToken(_ part: ByteBuffer, family: APIFamily) -> Bool {
        part.withUnsafeReadableBytes { bytes in
            switch family {
            case .anthropic:
                return anthropicMarkers.contains { find($0, in: bytes) != nil }
            case .openai:
                if openAIMarkers.contains(where: { find($0, in: bytes) != nil }) { return true }
                return openAIValues.contains { marker in
                    var from = 0
                    while let end = find(marker, in: bytes, from: from) {
                        if end < bytes.count, bytes[end] != UInt8(ascii: "\"") { return true }
                        from = end
                    }
                    return false
                }
            }
        }
    }

    /// The index just past the first occurrence of `needle` at or after `from`, or nil.
    private static func find(_ needle: [UInt8], in haystack: UnsafeRawBufferPointer, from: Int = 0) -> Int? {
        guard let first = needle.first, haystack.count >= needle.count else { return nil }
        var index = from
        let last = haystack.count - needle.count
        while index <= last {
            if haystack[index] == first {
                var matched = true
                for offset in 1..<needle.count where haystack[index + offset] != needle[offset] {
                    matched = false
                    break
                }
                if matched { return index + needle.count }
            }
            index += 1
        }
        return nil
    }
}
