import Crypto
import Foundation

/// Signs snapshots into envelopes; lives only on the control plane, next to the private key.
public struct SnapshotSigner: Sendable {
    private let privateKey: Curve25519.Signing.PrivateKey

    /// - Parameter privateKey: the control plane's Ed25519 signing key.
    public init(privateKey: Curve25519.Signing.PrivateKey) {
        self.privateKey = privateKey
    }

    /// The public key that verifies this signer's envelopes.
    public var publicKey: Curve25519.Signing.PublicKey { privateKey.publicKey }

    /// The snapshot's JSON bytes (sorted keys, compact): what the signature covers.
    public static func snapshotBytes(_ snapshot: PolicySnapshot) throws -> Data {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        return try encoder.encode(snapshot)
    }

    /// The envelope for `snapshot`, signed over the exact snapshot bytes it carries.
    public func envelope(for snapshot: PolicySnapshot) throws -> SnapshotEnvelope {
        let bytes = try SnapshotSigner.snapshotBytes(snapshot)
        let signature = try privateKey.signature(for: bytes)
        return SnapshotEnvelope(
            format: SnapshotEnvelope.currentFormat,
            snapshot: bytes.base64EncodedString(),
            signature: signature.base64EncodedString()
        )
    }

    /// The envelope's wire bytes for `snapshot`.
    public func sign(_ snapshot: PolicySnapshot) throws -> [UInt8] {
        try envelope(for: snapshot).encoded()
    }
}
