import Foundation

/// The signed wire form of a snapshot: `{"format":1,"snapshot":"<base64>","signature":"<base64>"}`.
///
/// `snapshot` is the base64 of the snapshot's JSON bytes and `signature` the base64 of the
/// Ed25519 signature over exactly those bytes, so verification never re-encodes anything.
public struct SnapshotEnvelope: Sendable, Equatable, Codable {
    /// The only envelope format this build reads and writes.
    public static let currentFormat = 1
    /// Default bound on an envelope's size (policy files are kilobytes; 1 MiB leaves room).
    public static let defaultMaxBytes = 1 << 20

    public var format: Int
    /// Base64 of the snapshot's JSON bytes.
    public var snapshot: String
    /// Base64 of the 64-byte Ed25519 signature over the decoded `snapshot` bytes.
    public var signature: String

    public init(format: Int, snapshot: String, signature: String) {
        self.format = format
        self.snapshot = snapshot
        self.signature = signature
    }

    /// The envelope as compact JSON with sorted keys.
    public func encoded() -> [UInt8] {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        // Encoding three plain fields cannot fail; an empty array would be rejected as malformed.
        return (try? encoder.encode(self)).map { Array($0) } ?? []
    }
}
