// StreamUsageTracker over streams whose lines end with a lone CR (allowed by the SSE spec):
// usage is read and hidden byte for byte, as with LF and CRLF.
import NIOCore
import Testing
@testable import SluiceWire

@Suite("StreamUsageTracker with CR line ends")
struct StreamUsageTrackerLineEndingTests {
    /// Relays `chunks` event by event as the sidecar's stream relay does, including its end:
    /// the unfinished last event is observed too (a CR-closed last event waits until then).
    static func relay(_ chunks: [ByteBuffer], through tracker: inout StreamUsageTracker) -> String {
        var splitter = SSEEventSplitter()
        var out = ByteBuffer()
        func emit(_ event: ByteBuffer, _ tracker: inout StreamUsageTracker) {
            switch tracker.observe(event, allocator: ByteBufferAllocator()) {
            case .forward:
                out.writeImmutableBuffer(event)
            case .replace(let replacement):
                out.writeImmutableBuffer(replacement)
            case .drop:
                break
            }
        }
        for chunk in chunks {
            let outcome = splitter.append(chunk) { emit($0, &tracker) }
            #expect(outcome == .ok)
        }
        if let rest = splitter.takePartialEvent() { emit(rest, &tracker) }
        return out.text
    }

    @Test("with hideInjectedUsage a CR-only stream comes out byte for byte as sent without include_usage",
          arguments: Streams.OpenAIEndpoint.allCases, [false, true])
    func hidesInjectedUsageCR(_ endpoint: Streams.OpenAIEndpoint, _ obfuscation: Bool) {
        let withUsage = Streams.openAI(endpoint, includeUsage: true, lineEnding: "\r", obfuscation: obfuscation)
        let without = Streams.openAI(endpoint, includeUsage: false, lineEnding: "\r", obfuscation: obfuscation)
        #expect(withUsage != without)
        var rng = SeededGenerator(seed: 31)
        let bytes = Array(withUsage.utf8)
        let chunkings = [[buffer(withUsage)], bytes.map { ByteBuffer(bytes: [$0]) }]
            + (0..<10).map { _ in randomChunks(bytes, maxChunk: 90, using: &rng) }
        for chunks in chunkings {
            var tracker = StreamUsageTracker(family: .openai, hideInjectedUsage: true)
            #expect(Self.relay(chunks, through: &tracker) == without)
            #expect(tracker.usage == Streams.openAIUsage(endpoint))
            #expect(tracker.completed)
        }
    }

    @Test("removes usage:null from an event whose data lines end with CR, CRLF or LF", arguments: [
        ("data: {\"id\":\"x\",\rdata: \"usage\":null,\rdata: \"b\":2}\r\r", "data: {\"id\":\"x\",\rdata: \"b\":2}\r\r"),
        ("data: {\"id\":\"x\",\r\ndata: \"usage\":null\rdata: }\n\n", "data: {\"id\":\"x\"\rdata: }\n\n"),
        ("id: 4\rdata: {\"id\":\"x\",\"usage\":null}\r\r", "id: 4\rdata: {\"id\":\"x\"}\r\r"),
    ])
    func removesNullUsageCR(_ event: String, _ expected: String) throws {
        var tracker = StreamUsageTracker(family: .openai, hideInjectedUsage: true)
        let action = tracker.observe(buffer(event), allocator: ByteBufferAllocator())
        guard case .replace(let out) = action else {
            Issue.record("expected a replacement, got \(action)")
            return
        }
        #expect(out.text == expected)
        let data = try #require(SSEEvent.data(of: out))
        #expect(scannerAccepts(data.text))
    }

    @Test("reads Anthropic usage from a CR-only stream")
    func anthropicCR() {
        let events = SSEEventSplitterTests.cr(SSEEventSplitterTests.anthropicEvents)
        var tracker = StreamUsageTracker(family: .anthropic, hideInjectedUsage: false)
        _ = Self.relay([buffer(events.joined())], through: &tracker)
        #expect(tracker.usage == TokenUsage(inputTokens: 25, outputTokens: 15, cachedInputTokens: 0))
        #expect(tracker.completed)
        #expect(tracker.eventCount == events.count)
    }
}
