import Crypto
import Foundation

/// One published policy: its version, the SHA-256 of its text, when it was issued, the text, and the peers.
public struct PolicySnapshot: Sendable, Equatable, Codable {
    /// Monotonic version; a holder accepts only a strictly newer one.
    public var version: UInt64
    /// Lowercase hex SHA-256 of `policy`'s UTF-8 bytes.
    public var hash: String
    /// When the control plane issued it, RFC 3339 in UTC (`2026-12-01T01:20:00Z`).
    public var issuedAt: String
    /// The policy file's YAML text, exactly as the operator wrote it.
    public var policy: String
    /// Admin addresses (`host:port`) of the sidecars known to the control plane, for gossip.
    public var peers: [String]

    /// A snapshot with every field given, `hash` included (it is checked by `SnapshotVerifier`, not here).
    public init(version: UInt64, hash: String, issuedAt: String, policy: String, peers: [String]) {
        self.version = version
        self.hash = hash
        self.issuedAt = issuedAt
        self.policy = policy
        self.peers = peers
    }

    /// A snapshot whose `hash` is computed from `policy` and whose `issuedAt` is `date` in RFC 3339 UTC.
    /// - Parameters:
    ///   - version: the version to publish; must be newer than any published before.
    ///   - issuedAt: the issue time.
    ///   - policy: the policy file's text.
    ///   - peers: admin addresses of known sidecars.
    public init(version: UInt64, issuedAt: Date, policy: String, peers: [String]) {
        self.init(
            version: version,
            hash: PolicySnapshot.hash(of: policy),
            issuedAt: PolicySnapshot.rfc3339(issuedAt),
            policy: policy,
            peers: peers
        )
    }

    /// Lowercase hex SHA-256 of the text's UTF-8 bytes.
    public static func hash(of policy: String) -> String {
        let digest = SHA256.hash(data: Data(policy.utf8))
        return digest.map { byte in
            let hex = String(byte, radix: 16)
            return byte < 16 ? "0" + hex : hex
        }.joined()
    }

    /// `date` as RFC 3339 in UTC with whole seconds (`2026-12-01T01:20:00Z`).
    public static func rfc3339(_ date: Date) -> String {
        let formatter = ISO8601DateFormatter()
        formatter.timeZone = TimeZone(identifier: "UTC")
        formatter.formatOptions = [.withInternetDateTime]
        return formatter.string(from: date)
    }

    enum CodingKeys: String, CodingKey {
        case version
        case hash
        case issuedAt = "issued_at"
        case policy
        case peers
    }
}
