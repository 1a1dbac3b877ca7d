/// Why a snapshot envelope was refused; raw values are stable and used as metric labels.
public enum SnapshotRejection: String, Error, Sendable, Equatable, CaseIterable, CustomStringConvertible {
    /// Larger than the verifier's byte bound; nothing was parsed.
    case oversized
    /// Not a well-formed envelope or snapshot (bad JSON, missing fields, bad base64).
    case malformed
    /// A well-formed envelope whose `format` this build does not know.
    case unsupportedFormat = "unsupported_format"
    /// The signature does not verify with the trusted key.
    case badSignature = "bad_signature"
    /// Signed, but `hash` is not the SHA-256 of `policy`.
    case hashMismatch = "hash_mismatch"
    /// Signed and intact, but not newer than the version already held (a replay or an older one).
    case stale

    public var description: String { rawValue }
}
