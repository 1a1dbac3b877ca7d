/// Why a key file could not be read or written; `description` names the file and the fix.
public enum KeyFileError: Error, Sendable, Equatable, CustomStringConvertible {
    case missing(path: String)
    case unreadable(path: String, reason: String)
    /// The first line is not a `# sluice ed25519 … key` header.
    case notAKeyFile(path: String)
    /// A public key where a signing key was expected, or the other way round.
    case wrongKind(path: String, expected: KeyFile.Kind, found: KeyFile.Kind)
    case notBase64(path: String)
    case wrongLength(path: String, bytes: Int)
    /// `keygen` without `--force` and a key already there.
    case exists(paths: [String])
    case unwritable(path: String, reason: String)

    public var description: String {
        switch self {
        case .missing(let path):
            return "\(path): no such file"
        case .unreadable(let path, let reason):
            return "\(path): cannot read: \(reason)"
        case .notAKeyFile(let path):
            return "\(path): not a sluice key file (expected a first line \"\(KeyFile.Kind.signing.header)\" or \"\(KeyFile.Kind.public.header)\")"
        case .wrongKind(let path, let expected, let found):
            return "\(path): this is a \(found.noun), expected a \(expected.noun)"
        case .notBase64(let path):
            return "\(path): the key line is not base64 (expected one line of base64 after the header)"
        case .wrongLength(let path, let bytes):
            return "\(path): the key is \(bytes) bytes, an Ed25519 key is \(KeyFile.keyByteCount)"
        case .exists(let paths):
            return "\(paths.joined(separator: ", ")): already exists (pass --force to replace)"
        case .unwritable(let path, let reason):
            return "\(path): cannot write: \(reason)"
        }
    }
}
