import Crypto
import Foundation

/// The key file format: a `# sluice ed25519 signing key` (or `public key`) line, then the raw 32 bytes as base64.
///
/// ```
/// # sluice ed25519 signing key
/// 3q2+7w...=
/// ```
/// Blank lines are ignored; anything else after the key line is an error. The header tells the
/// two kinds apart, so passing `signing.pub` where `signing.key` belongs is a clear error.
public enum KeyFile {
    /// Raw size of an Ed25519 private seed and of a public key.
    public static let keyByteCount = 32
    /// Conventional file names inside the `keygen --out` directory.
    public static let signingKeyName = "signing.key"
    public static let publicKeyName = "signing.pub"

    /// Which key a file holds.
    public enum Kind: String, Sendable, Equatable {
        case signing
        case `public`

        /// The file's first line.
        public var header: String {
            switch self {
            case .signing: return "# sluice ed25519 signing key"
            case .public: return "# sluice ed25519 public key"
            }
        }

        var noun: String {
            switch self {
            case .signing: return "private signing key"
            case .public: return "public key"
            }
        }
    }

    /// The file text for `raw` key bytes of `kind`.
    public static func render(_ kind: Kind, raw: Data) -> String {
        "\(kind.header)\n\(raw.base64EncodedString())\n"
    }

    /// The raw key bytes in `text`, checked to be of `kind` and 32 bytes long; `path` is for messages.
    public static func parse(_ text: String, expecting kind: Kind, path: String) throws(KeyFileError) -> Data {
        let lines = text.split(whereSeparator: \.isNewline)
            .map { $0.trimmingCharacters(in: .whitespaces) }
            .filter { !$0.isEmpty }
        guard let header = lines.first else { throw .notAKeyFile(path: path) }
        let found: Kind
        switch header {
        case Kind.signing.header: found = .signing
        case Kind.public.header: found = .public
        default: throw .notAKeyFile(path: path)
        }
        guard found == kind else { throw .wrongKind(path: path, expected: kind, found: found) }
        guard lines.count == 2, let raw = Data(base64Encoded: lines[1]) else { throw .notBase64(path: path) }
        guard raw.count == keyByteCount else { throw .wrongLength(path: path, bytes: raw.count) }
        return raw
    }

    /// The signing key in the file at `path`.
    public static func loadSigningKey(path: String) throws(KeyFileError) -> Curve25519.Signing.PrivateKey {
        let raw = try parse(read(path), expecting: .signing, path: path)
        do {
            return try Curve25519.Signing.PrivateKey(rawRepresentation: raw)
        } catch {
            throw .wrongLength(path: path, bytes: raw.count)
        }
    }

    /// The public key in the file at `path`.
    public static func loadPublicKey(path: String) throws(KeyFileError) -> Curve25519.Signing.PublicKey {
        let raw = try parse(read(path), expecting: .public, path: path)
        do {
            return try Curve25519.Signing.PublicKey(rawRepresentation: raw)
        } catch {
            throw .wrongLength(path: path, bytes: raw.count)
        }
    }

    /// The file's text; key files are tiny, so anything over 64 KiB is not one.
    static func read(_ path: String) throws(KeyFileError) -> String {
        guard FileManager.default.fileExists(atPath: path) else { throw .missing(path: path) }
        let data: Data
        do {
            data = try Data(contentsOf: URL(fileURLWithPath: path))
        } catch {
            throw .unreadable(path: path, reason: "\(error.localizedDescription)")
        }
        guard data.count <= 64 * 1024, let text = String(data: data, encoding: .utf8) else {
            throw .notAKeyFile(path: path)
        }
        return text
    }
}
