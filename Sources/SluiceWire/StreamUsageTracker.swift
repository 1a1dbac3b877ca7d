import NIOCore

/// Watches the events of one streamed response: collects token usage as it passes, notices
/// the terminal event, and (for OpenAI streams whose usage the proxy asked for on the
/// client's behalf) removes what the client would not have seen without the proxy.
public struct StreamUsageTracker: Sendable {
    /// What to do with one event.
    public enum Action: Sendable, Equatable {
        /// Relay the event's bytes unchanged.
        case forward
        /// Relay these bytes instead.
        case replace(ByteBuffer)
        /// Relay nothing.
        case drop
    }

    public let family: APIFamily
    /// Whether usage was requested by the proxy, not the client, and must be hidden.
    public let hideInjectedUsage: Bool
    /// Usage seen so far (Anthropic streams report input first and output at the end).
    public private(set) var usage: TokenUsage?
    /// Whether the stream's normal end was seen (`[DONE]`, `message_stop`, `response.completed`).
    public private(set) var completed = false
    /// Whether the provider sent an error event.
    public private(set) var sawErrorEvent = false
    /// Events seen.
    public private(set) var eventCount = 0

    public init(family: APIFamily, hideInjectedUsage: Bool) {
        self.family = family
        self.hideInjectedUsage = hideInjectedUsage
    }

    /// Whether the tracker never changes events, so raw chunks can be relayed as they come.
    public var isPassThrough: Bool { !hideInjectedUsage }

    /// Inspects one whole event (as cut by ``SSEEventSplitter``).
    public mutating func observe(_ event: ByteBuffer, allocator: ByteBufferAllocator) -> Action {
        eventCount += 1
        guard let data = SSEEvent.data(of: event) else { return .forward }
        return data.withUnsafeReadableBytes { bytes -> Action in
            if bytes.count == 6, bytes.elementsEqual("[DONE]".utf8) {
                completed = true
                return .forward
            }
            switch family {
            case .openai: return observeOpenAI(bytes, event: event, data: data, allocator: allocator)
            case .anthropic:
                observeAnthropic(bytes)
                return .forward
            }
        }
    }

    private mutating func observeOpenAI(_ bytes: UnsafeRawBufferPointer, event: ByteBuffer, data: ByteBuffer, allocator: ByteBufferAllocator) -> Action {
        guard StreamUsageTracker.contains(bytes, "\"usage\"") || StreamUsageTracker.contains(bytes, "\"error\"")
                || StreamUsageTracker.contains(bytes, "\"type\"")
        else { return .forward }
        guard let object = try? JSONScanner.scanObject(bytes) else { return .forward }
        if let type = object.member("type"), type.kind == .string {
            // The Responses API: usage rides on the final response object.
            let name = JSONScanner.decodeString(bytes, type.valueRange)
            switch name {
            case "response.completed", "response.incomplete", "response.failed":
                completed = true
                if let response = object.member("response"), response.kind == .object,
                   let inner = try? JSONScanner.scanObject(bytes, in: response.valueRange),
                   let usage = inner.member("usage"), usage.kind == .object {
                    self.usage = UsageParser.parseUsageObject(bytes, usage.valueRange, family: .openai)
                }
                if name == "response.failed" { sawErrorEvent = true }
            case "error":
                sawErrorEvent = true
            default:
                break
            }
            return .forward
        }
        if object.member("error") != nil { sawErrorEvent = true }
        guard let usageIndex = object.members.lastIndex(where: { $0.key == "usage" }) else { return .forward }
        let usageMember = object.members[usageIndex]
        if usageMember.kind == .object {
            usage = UsageParser.parseUsageObject(bytes, usageMember.valueRange, family: .openai)
            guard hideInjectedUsage else { return .forward }
            // The extra usage-only chunk the client did not ask for.
            if let choices = object.member("choices"), choices.kind == .array,
               StreamUsageTracker.isEmptyArray(bytes, choices.valueRange) {
                return .drop
            }
            return .replace(StreamUsageTracker.event(event, removing: usageIndex, from: object, allocator: allocator))
        }
        guard hideInjectedUsage, usageMember.kind == .null else { return .forward }
        return .replace(StreamUsageTracker.event(event, removing: usageIndex, from: object, allocator: allocator))
    }

    private mutating func observeAnthropic(_ bytes: UnsafeRawBufferPointer) {
        guard let object = try? JSONScanner.scanObject(bytes),
              let type = object.member("type"), type.kind == .string
        else { return }
        switch JSONScanner.decodeString(bytes, type.valueRange) {
        case "message_start":
            if let message = object.member("message"), message.kind == .object,
               let inner = try? JSONScanner.scanObject(bytes, in: message.valueRange),
               let usage = inner.member("usage"), usage.kind == .object {
                self.usage = UsageParser.parseUsageObject(bytes, usage.valueRange, family: .anthropic)
            }
        case "message_delta":
            if let usage = object.member("usage"), usage.kind == .object,
               let delta = UsageParser.parseUsageObject(bytes, usage.valueRange, family: .anthropic) {
                var merged = self.usage ?? TokenUsage()
                merged.outputTokens = delta.outputTokens
                // Newer API versions repeat the input counts at the end; take them when present.
                if delta.inputTokens > 0 {
                    merged.inputTokens = delta.inputTokens
                    merged.cachedInputTokens = delta.cachedInputTokens
                }
                self.usage = merged
            }
        case "message_stop":
            completed = true
        case "error":
            sawErrorEvent = true
        default:
            break
        }
    }

    /// `event` with member `index` of its data's object (offsets into the joined data) cut
    /// out. Only those bytes go: other fields, line endings and `data:` prefixes stay as they
    /// came, and a cut across data lines joins them, so the data still reads as the object.
    static func event(_ event: ByteBuffer, removing index: Int, from object: JSONScanner.Object, allocator: ByteBufferAllocator) -> ByteBuffer {
        let members = object.members
        let removal: Range<Int>
        if index > 0 {
            removal = members[index - 1].valueRange.upperBound..<members[index].valueRange.upperBound
        } else if members.count > 1 {
            removal = members[0].keyRange.lowerBound..<members[1].keyRange.lowerBound
        } else {
            removal = members[0].keyRange.lowerBound..<members[0].valueRange.upperBound
        }
        return event.withUnsafeReadableBytes { bytes in
            let lines = SSEEvent.dataValueRanges(bytes)
            // The data is the lines' values joined with "\n": find the event offset of a data offset.
            func eventOffset(_ dataOffset: Int) -> Int {
                var lineStart = 0
                for line in lines {
                    if dataOffset <= lineStart + line.count { return line.lowerBound + dataOffset - lineStart }
                    lineStart += line.count + 1
                }
                return lines.last?.upperBound ?? bytes.count
            }
            let cut = eventOffset(removal.lowerBound)..<eventOffset(removal.upperBound)
            var out = allocator.buffer(capacity: bytes.count - cut.count)
            out.writeBytes(UnsafeRawBufferPointer(rebasing: bytes[0..<cut.lowerBound]))
            out.writeBytes(UnsafeRawBufferPointer(rebasing: bytes[cut.upperBound..<bytes.count]))
            return out
        }
    }

    static func isEmptyArray(_ bytes: UnsafeRawBufferPointer, _ range: Range<Int>) -> Bool {
        bytes[range].allSatisfy { $0 == UInt8(ascii: "[") || $0 == UInt8(ascii: "]") || $0 == 0x20 || $0 == 0x0A || $0 == 0x0D || $0 == 0x09 }
    }

    /// Whether `needle` occurs in `bytes` (memmem-like, for cheap pre-filtering).
    static func contains(_ bytes: UnsafeRawBufferPointer, _ needle: StaticString) -> Bool {
        needle.withUTF8Buffer { pattern in
            let n = pattern.count
            guard n > 0, bytes.count >= n else { return false }
            let first = pattern[0]
            var i = 0
            let last = bytes.count - n
            while i <= last {
                if bytes[i] == first {
                    var k = 1
                    while k < n && bytes[i + k] == pattern[k] { k += 1 }
                    if k == n { return true }
                }
                i += 1
            }
            return false
        }
    }
}
