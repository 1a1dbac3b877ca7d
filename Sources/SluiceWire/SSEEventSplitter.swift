import NIOCore

/// Splits a byte stream of server-sent events into whole events as the bytes arrive.
///
/// Each event handed out is a slice of the incoming buffer (no copy) that ends with the
/// blank line closing it. Bytes of an unfinished event wait for the next chunk.
public struct SSEEventSplitter: Sendable {
    private var pending: ByteBuffer?

    public init() {}

    /// Whether bytes of an unfinished event are waiting.
    public var hasPartialEvent: Bool { (pending?.readableBytes ?? 0) > 0 }

    /// The bytes of the unfinished event, if any, removing them.
    public mutating func takePartialEvent() -> ByteBuffer? {
        defer { pending = nil }
        return pending.flatMap { $0.readableBytes > 0 ? $0 : nil }
    }

    /// Feeds `chunk`; calls `onEvent` with each event it completes, in order.
    public mutating func append(_ chunk: ByteBuffer, onEvent: (ByteBuffer) -> Void) {
        var buffer: ByteBuffer
        if var waiting = pending, waiting.readableBytes > 0 {
            var copy = chunk
            waiting.writeBuffer(&copy)
            buffer = waiting
        } else {
            buffer = chunk
        }
        pending = nil
        let ends = buffer.withUnsafeReadableBytes { SSEEventSplitter.eventEnds(in: $0) }
        var start = 0
        for end in ends {
            if let event = buffer.getSlice(at: buffer.readerIndex + start, length: end - start) {
                onEvent(event)
            }
            start = end
        }
        if start < buffer.readableBytes {
            buffer.moveReaderIndex(forwardBy: start)
            pending = buffer
        }
    }

    /// Offsets just past each blank line that closes an event.
    static func eventEnds(in bytes: UnsafeRawBufferPointer) -> [Int] {
        var ends: [Int] = []
        var lineIsEmpty = true
        for offset in 0..<bytes.count {
            switch bytes[offset] {
            case UInt8(ascii: "\n"):
                if lineIsEmpty { ends.append(offset + 1) }
                lineIsEmpty = true
            case UInt8(ascii: "\r"):
                continue
            default:
                lineIsEmpty = false
            }
        }
        // Nothing is dropped: a stray blank line (a keep-alive newline) comes out as an
        // "event" of its own, which is harmless and keeps the relayed bytes exactly the input.
        return ends
    }
}

/// Reads the fields of one server-sent event.
public enum SSEEvent {
    /// The event's `data:` payload (several data lines joined with `\n`), or nil if none.
    public static func data(of event: ByteBuffer) -> ByteBuffer? {
        var result: ByteBuffer?
        event.withUnsafeReadableBytes { bytes in
            forEachField(bytes) { name, value in
                guard name == "data" else { return }
                if var existing = result {
                    existing.writeInteger(UInt8(ascii: "\n"))
                    existing.writeBytes(UnsafeRawBufferPointer(rebasing: bytes[value]))
                    result = existing
                } else {
                    result = event.getSlice(at: event.readerIndex + value.lowerBound, length: value.count)
                }
            }
        }
        // A slice cannot grow; copy when lines were joined.
        return result
    }

    /// The byte ranges of the event's `data:` values, in order: ``data(of:)`` is them joined
    /// with `\n`.
    static func dataValueRanges(_ bytes: UnsafeRawBufferPointer) -> [Range<Int>] {
        var ranges: [Range<Int>] = []
        forEachField(bytes) { name, value in
            if name == "data" { ranges.append(value) }
        }
        return ranges
    }

    /// The event's `event:` name, if any.
    public static func name(of event: ByteBuffer) -> String? {
        var name: String?
        event.withUnsafeReadableBytes { bytes in
            forEachField(bytes) { field, value in
                if field == "event" { name = String(decoding: UnsafeRawBufferPointer(rebasing: bytes[value]), as: UTF8.self) }
            }
        }
        return name
    }

    private static func forEachField(_ bytes: UnsafeRawBufferPointer, _ body: (Substring, Range<Int>) -> Void) {
        var lineStart = 0
        var offset = 0
        while offset <= bytes.count {
            if offset == bytes.count || bytes[offset] == UInt8(ascii: "\n") {
                var lineEnd = offset
                if lineEnd > lineStart, bytes[lineEnd - 1] == UInt8(ascii: "\r") { lineEnd -= 1 }
                if lineEnd > lineStart, bytes[lineStart] != UInt8(ascii: ":") {
                    var colon = lineStart
                    while colon < lineEnd, bytes[colon] != UInt8(ascii: ":") { colon += 1 }
                    let name = Substring(String(decoding: UnsafeRawBufferPointer(rebasing: bytes[lineStart..<colon]), as: UTF8.self))
                    var valueStart = min(colon + 1, lineEnd)
                    if valueStart < lineEnd, bytes[valueStart] == UInt8(ascii: " ") { valueStart += 1 }
                    body(name, valueStart..<lineEnd)
                }
                lineStart = offset + 1
            }
            offset += 1
        }
    }
}
