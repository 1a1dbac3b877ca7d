import Crypto
import Foundation

/// Checks envelope bytes from any source (control plane, gossip, disk) against the one trusted key.
///
/// Order: size bound, envelope shape, format, signature over the exact snapshot bytes,
/// snapshot shape, policy hash, then version. Never traps: every failure is a `SnapshotRejection`.
public struct SnapshotVerifier: Sendable {
    private let trustedKey: Curve25519.Signing.PublicKey
    /// Envelopes longer than this are refused unread.
    public let maxBytes: Int

    /// - Parameters:
    ///   - trustedKey: the control plane's public key, the only authority for policy.
    ///   - maxBytes: bound on an envelope's size.
    public init(trustedKey: Curve25519.Signing.PublicKey, maxBytes: Int = SnapshotEnvelope.defaultMaxBytes) {
        self.trustedKey = trustedKey
        self.maxBytes = maxBytes
    }

    /// The snapshot inside `bytes` if it verifies and, when `newerThan` is given, is strictly newer.
    public func verify(_ bytes: [UInt8], newerThan held: UInt64?) -> Result<PolicySnapshot, SnapshotRejection> {
        guard bytes.count <= maxBytes else { return .failure(.oversized) }
        let data = Data(bytes)
        let decoder = JSONDecoder()
        guard let header = try? decoder.decode(FormatHeader.self, from: data) else {
            return .failure(.malformed)
        }
        guard header.format == SnapshotEnvelope.currentFormat else { return .failure(.unsupportedFormat) }
        guard let envelope = try? decoder.decode(SnapshotEnvelope.self, from: data),
            let snapshotBytes = Data(base64Encoded: envelope.snapshot),
            let signature = Data(base64Encoded: envelope.signature)
        else {
            return .failure(.malformed)
        }
        guard trustedKey.isValidSignature(signature, for: snapshotBytes) else { return .failure(.badSignature) }
        guard let snapshot = try? decoder.decode(PolicySnapshot.self, from: snapshotBytes) else {
            return .failure(.malformed)
        }
        guard snapshot.hash == PolicySnapshot.hash(of: snapshot.policy) else { return .failure(.hashMismatch) }
        if let held, snapshot.version <= held { return .failure(.stale) }
        return .success(snapshot)
    }

    /// Only the `format` field, read first so a future format is told apart from garbage.
    private struct FormatHeader: Decodable {
        var format: Int
    }
}
