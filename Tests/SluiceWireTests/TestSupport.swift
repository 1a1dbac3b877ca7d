// Shared helpers for the SluiceWire tests: bytes from strings, a seeded generator.
import NIOCore
@testable import SluiceWire

/// `text` as a ByteBuffer.
func buffer(_ text: String) -> ByteBuffer {
    ByteBuffer(string: text)
}

extension ByteBuffer {
    /// The readable bytes decoded as UTF-8.
    var text: String { String(buffer: self) }
}

/// Whether the scanner accepts `bytes` as one JSON value.
func scannerAccepts(_ bytes: [UInt8]) -> Bool {
    bytes.withUnsafeBytes { raw -> Bool in
        do {
            try JSONScanner.validate(raw)
            return true
        } catch {
            return false
        }
    }
}

func scannerAccepts(_ text: String) -> Bool {
    scannerAccepts(Array(text.utf8))
}

/// Why the scanner rejects `bytes`, or nil when it accepts them.
func validationFailure(_ bytes: [UInt8]) -> JSONScanner.Failure? {
    bytes.withUnsafeBytes { raw -> JSONScanner.Failure? in
        do throws(JSONScanner.Failure) {
            try JSONScanner.validate(raw)
            return nil
        } catch {
            return error
        }
    }
}

func validationFailure(_ text: String) -> JSONScanner.Failure? {
    validationFailure(Array(text.utf8))
}

/// The scanned top-level object of `text`.
func scanObject(_ text: String) -> Result<JSONScanner.Object, JSONScanner.Failure> {
    Array(text.utf8).withUnsafeBytes { raw -> Result<JSONScanner.Object, JSONScanner.Failure> in
        do throws(JSONScanner.Failure) {
            return .success(try JSONScanner.scanObject(raw))
        } catch {
            return .failure(error)
        }
    }
}

/// The bytes of `text` at `range`, as a string.
func slice(_ text: String, _ range: Range<Int>) -> String {
    String(decoding: Array(text.utf8)[range], as: UTF8.self)
}

/// SplitMix64: a small deterministic generator so "random" tests are reproducible.
struct SeededGenerator: RandomNumberGenerator {
    private var state: UInt64

    init(seed: UInt64) {
        state = seed
    }

    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}

/// `stream` cut into chunks of random sizes in `1...maxChunk`.
func randomChunks(_ stream: [UInt8], maxChunk: Int, using rng: inout SeededGenerator) -> [ByteBuffer] {
    var chunks: [ByteBuffer] = []
    var start = 0
    while start < stream.count {
        let size = Int.random(in: 1...maxChunk, using: &rng)
        let end = min(stream.count, start + size)
        chunks.append(ByteBuffer(bytes: stream[start..<end]))
        start = end
    }
    return chunks
}
