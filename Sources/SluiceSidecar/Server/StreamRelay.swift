import NIOCore
import SluiceWire

/// Relays a streamed response body: passes chunks straight through when nothing in them
/// needs changing, or event by event when injected usage must be hidden, and lets the
/// ``StreamUsageTracker`` read usage from every event on the way.
struct StreamRelay {
    /// Nil for JSON bodies too big to hold (relayed as they come, usage read from the tail).
    private(set) var tracker: StreamUsageTracker?
    private var splitter = SSEEventSplitter()
    /// The last bytes of an oversized JSON body, where providers put `usage`.
    private var tail: ByteBuffer?
    static let tailBytes = 64 * 1024

    init(tracker: StreamUsageTracker?) {
        self.tracker = tracker
    }

    /// Usage found at the end of an oversized JSON body.
    func tailUsage(family: APIFamily) -> TokenUsage? {
        tail?.withUnsafeReadableBytes { UsageParser.usage(inTail: $0, family: family) }
    }

    private mutating func keepTail(_ chunk: ByteBuffer) {
        let limit = StreamRelay.tailBytes
        if chunk.readableBytes >= limit {
            tail = chunk.getSlice(at: chunk.readerIndex + chunk.readableBytes - limit, length: limit)
            return
        }
        var kept = tail ?? ByteBuffer()
        var copy = chunk
        kept.writeBuffer(&copy)
        if kept.readableBytes > 2 * limit {
            kept.moveReaderIndex(forwardBy: kept.readableBytes - limit)
            kept.discardReadBytes()
        }
        tail = kept
    }

    /// Processes one upstream chunk, calling `emit` with the bytes to send on, in order.
    /// Returns false when the stream can no longer be relayed: an event grew past the
    /// splitter's bound while events were being rewritten (its bytes were not sent). When
    /// chunks pass straight through, such an event has already gone to the client; only
    /// usage reading stops.
    mutating func process(_ chunk: ByteBuffer, allocator: ByteBufferAllocator, emit: (ByteBuffer) -> Void) -> Bool {
        guard var tracker else {
            emit(chunk)
            keepTail(chunk)
            return true
        }
        var intact = true
        if tracker.isPassThrough {
            // Send first, read after: the client's bytes never wait for our parsing.
            emit(chunk)
            if !lostTrack, splitter.append(chunk, onEvent: { event in _ = tracker.observe(event, allocator: allocator) }) == .overflow {
                lostTrack = true
            }
        } else {
            let outcome = splitter.append(chunk) { event in
                switch tracker.observe(event, allocator: allocator) {
                case .forward: emit(event)
                case .replace(let replacement): emit(replacement)
                case .drop: break
                }
            }
            intact = outcome == .ok
        }
        self.tracker = tracker
        return intact
    }

    /// Whether usage reading stopped (an event over the splitter's bound passed through).
    private(set) var lostTrack = false

    /// Ends the relay; returns bytes of an unfinished last event still to be sent (only
    /// when events are relayed one by one; pass-through already sent them).
    mutating func finish(allocator: ByteBufferAllocator) -> ByteBuffer? {
        guard let rest = splitter.takePartialEvent(), var tracker else { return nil }
        // A last event without its closing blank line still counts (usage, completion).
        let action = tracker.observe(rest, allocator: allocator)
        self.tracker = tracker
        guard !tracker.isPassThrough else { return nil }
        switch action {
        case .forward: return rest
        case .replace(let replacement): return replacement
        case .drop: return nil
        }
    }
}
