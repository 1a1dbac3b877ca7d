import Crypto
import Foundation

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// Writing a new key pair: the private key is created 0600 (never chmod-ed after), the public key 0644.
extension KeyFile {
    /// Where `generate` wrote the pair.
    public struct Written: Sendable, Equatable {
        public var signingKeyPath: String
        public var publicKeyPath: String
    }

    /// Creates `directory` (0700) if needed and writes a fresh `signing.key` and `signing.pub` into it.
    ///
    /// Each file is written to a temporary name created with its final mode, fsynced, then renamed
    /// into place, so a crash never leaves a half-written key. Without `force`, existing keys are
    /// left alone and `.exists` is thrown.
    /// - Parameters:
    ///   - directory: the output directory.
    ///   - force: replace existing key files.
    ///   - key: the key to write (a new random one by default; tests pass their own).
    @discardableResult
    public static func generate(
        into directory: String,
        force: Bool,
        key: Curve25519.Signing.PrivateKey = Curve25519.Signing.PrivateKey()
    ) throws(KeyFileError) -> Written {
        let signingPath = (directory as NSString).appendingPathComponent(signingKeyName)
        let publicPath = (directory as NSString).appendingPathComponent(publicKeyName)
        if !force {
            let present = [signingPath, publicPath].filter { FileManager.default.fileExists(atPath: $0) }
            if !present.isEmpty { throw .exists(paths: present) }
        }
        do {
            try FileManager.default.createDirectory(
                atPath: directory,
                withIntermediateDirectories: true,
                attributes: [.posixPermissions: 0o700]
            )
        } catch {
            throw .unwritable(path: directory, reason: "\(error.localizedDescription)")
        }
        try writeAtomically(render(.signing, raw: key.rawRepresentation), to: signingPath, mode: 0o600)
        try writeAtomically(render(.public, raw: key.publicKey.rawRepresentation), to: publicPath, mode: 0o644)
        return Written(signingKeyPath: signingPath, publicKeyPath: publicPath)
    }

    /// Writes `text` to a fresh temporary file opened with `mode`, fsyncs it and renames it to `path`.
    static func writeAtomically(_ text: String, to path: String, mode: mode_t) throws(KeyFileError) {
        let temporary = "\(path).tmp-\(UInt64.random(in: 0...UInt64.max))"
        let fd = open(temporary, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, mode)
        guard fd >= 0 else { throw .unwritable(path: path, reason: errnoText()) }
        // Before any byte is written: make the mode exact whatever the umask (it can only narrow it).
        _ = fchmod(fd, mode)
        let bytes = Array(text.utf8)
        var written = 0
        var failure: String?
        while written < bytes.count {
            let count = bytes[written...].withUnsafeBytes { write(fd, $0.baseAddress, $0.count) }
            if count < 0 {
                if errno == EINTR { continue }
                failure = errnoText()
                break
            }
            written += count
        }
        if failure == nil, fsync(fd) != 0 { failure = errnoText() }
        if close(fd) != 0, failure == nil { failure = errnoText() }
        if failure == nil, rename(temporary, path) != 0 { failure = errnoText() }
        if let failure {
            unlink(temporary)
            throw .unwritable(path: path, reason: failure)
        }
    }

    private static func errnoText() -> String {
        String(cString: strerror(errno))
    }
}
