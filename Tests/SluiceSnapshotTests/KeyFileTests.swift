// KeyFile: the key file format, its loaders' errors, and keygen's writer (modes, no overwrite, --force).
import Crypto
import Foundation
import Testing
@testable import SluiceSnapshot

@Suite("KeyFile")
struct KeyFileTests {
    /// A fresh directory under the system temp dir, removed by the caller.
    func temporaryDirectory() throws -> String {
        let path = (NSTemporaryDirectory() as NSString).appendingPathComponent("sluice-keyfile-\(UUID().uuidString)")
        try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
        return path
    }

    func mode(_ path: String) throws -> Int {
        let attributes = try FileManager.default.attributesOfItem(atPath: path)
        return try #require(attributes[.posixPermissions] as? Int) & 0o777
    }

    func write(_ text: String, in directory: String, name: String) throws -> String {
        let path = (directory as NSString).appendingPathComponent(name)
        try Data(text.utf8).write(to: URL(fileURLWithPath: path))
        return path
    }

    func error<T>(_ body: () throws(KeyFileError) -> T) -> KeyFileError? {
        do {
            _ = try body()
            return nil
        } catch {
            return error
        }
    }

    @Test("generate writes a pair that loads back, signs and verifies; modes 0600 and 0644")
    func roundTrip() throws {
        let directory = try temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let out = (directory as NSString).appendingPathComponent("nested/keys")
        let written = try KeyFile.generate(into: out, force: false)
        #expect(written.signingKeyPath == out + "/signing.key")
        #expect(written.publicKeyPath == out + "/signing.pub")
        #expect(try mode(written.signingKeyPath) == 0o600)
        #expect(try mode(written.publicKeyPath) == 0o644)
        #expect(try mode(out) == 0o700)

        let privateKey = try KeyFile.loadSigningKey(path: written.signingKeyPath)
        let publicKey = try KeyFile.loadPublicKey(path: written.publicKeyPath)
        #expect(privateKey.publicKey.rawRepresentation == publicKey.rawRepresentation)
        let snapshot = PolicySnapshot(version: 1, issuedAt: Date(), policy: "routes: []\n", peers: [])
        let envelope = try SnapshotSigner(privateKey: privateKey).sign(snapshot)
        #expect(SnapshotVerifier(trustedKey: publicKey).verify(envelope, newerThan: nil) == .success(snapshot))
        let leftovers = try FileManager.default.contentsOfDirectory(atPath: out).sorted()
        #expect(leftovers == ["signing.key", "signing.pub"])
    }

    @Test("the files are a header line and one base64 line of the raw 32 bytes")
    func format() throws {
        let key = Curve25519.Signing.PrivateKey()
        let directory = try temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let written = try KeyFile.generate(into: directory, force: false, key: key)
        let signing = try String(contentsOfFile: written.signingKeyPath, encoding: .utf8)
        let pub = try String(contentsOfFile: written.publicKeyPath, encoding: .utf8)
        #expect(signing == "# sluice ed25519 signing key\n\(key.rawRepresentation.base64EncodedString())\n")
        #expect(pub == "# sluice ed25519 public key\n\(key.publicKey.rawRepresentation.base64EncodedString())\n")
    }

    @Test("existing keys are refused without force and replaced with it")
    func overwrite() throws {
        let directory = try temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let first = Curve25519.Signing.PrivateKey()
        let written = try KeyFile.generate(into: directory, force: false, key: first)
        let refused = error { () throws(KeyFileError) in try KeyFile.generate(into: directory, force: false) }
        #expect(refused == .exists(paths: [written.signingKeyPath, written.publicKeyPath]))
        #expect(try KeyFile.loadSigningKey(path: written.signingKeyPath).rawRepresentation == first.rawRepresentation)

        try FileManager.default.removeItem(atPath: written.signingKeyPath)
        let onlyPublic = error { () throws(KeyFileError) in try KeyFile.generate(into: directory, force: false) }
        #expect(onlyPublic == .exists(paths: [written.publicKeyPath]))

        let second = Curve25519.Signing.PrivateKey()
        try KeyFile.generate(into: directory, force: true, key: second)
        #expect(try KeyFile.loadSigningKey(path: written.signingKeyPath).rawRepresentation == second.rawRepresentation)
        #expect(try KeyFile.loadPublicKey(path: written.publicKeyPath).rawRepresentation == second.publicKey.rawRepresentation)
        #expect(try mode(written.signingKeyPath) == 0o600)
    }

    @Test("a missing file is reported as missing")
    func missing() {
        let path = "/nonexistent/sluice/signing.key"
        #expect(error { () throws(KeyFileError) in try KeyFile.loadSigningKey(path: path) } == .missing(path: path))
        #expect(error { () throws(KeyFileError) in try KeyFile.loadPublicKey(path: path) } == .missing(path: path))
    }

    @Test("a public key where the signing key belongs, and the reverse, is the wrong kind")
    func wrongKind() throws {
        let directory = try temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let written = try KeyFile.generate(into: directory, force: false)
        let swappedPrivate = error { () throws(KeyFileError) in try KeyFile.loadSigningKey(path: written.publicKeyPath) }
        #expect(swappedPrivate == .wrongKind(path: written.publicKeyPath, expected: .signing, found: .public))
        #expect(swappedPrivate?.description == "\(written.publicKeyPath): this is a public key, expected a private signing key")
        let swappedPublic = error { () throws(KeyFileError) in try KeyFile.loadPublicKey(path: written.signingKeyPath) }
        #expect(swappedPublic == .wrongKind(path: written.signingKeyPath, expected: .public, found: .signing))
    }

    @Test("bad contents name the problem", arguments: [
        ("", KeyFileError.notAKeyFile(path: "k")),
        ("AAAA\n", .notAKeyFile(path: "k")),
        ("# some other key\nAAAA\n", .notAKeyFile(path: "k")),
        ("-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n", .notAKeyFile(path: "k")),
        ("# sluice ed25519 signing key\n", .notBase64(path: "k")),
        ("# sluice ed25519 signing key\nnot base64 at all!\n", .notBase64(path: "k")),
        ("# sluice ed25519 signing key\n\(Data(count: 32).base64EncodedString())\nextra\n", .notBase64(path: "k")),
        ("# sluice ed25519 signing key\n\(Data(count: 31).base64EncodedString())\n", .wrongLength(path: "k", bytes: 31)),
        ("# sluice ed25519 signing key\n\(Data(count: 64).base64EncodedString())\n", .wrongLength(path: "k", bytes: 64)),
    ])
    func badContents(_ text: String, _ expected: KeyFileError) {
        #expect(error { () throws(KeyFileError) in try KeyFile.parse(text, expecting: .signing, path: "k") } == expected)
    }

    @Test("blank lines, CRLF and surrounding spaces are tolerated")
    func lenient() throws {
        let raw = Data((0..<32).map { UInt8($0) })
        let text = "\r\n  # sluice ed25519 public key  \r\n\r\n  \(raw.base64EncodedString())  \r\n\n"
        #expect(try KeyFile.parse(text, expecting: .public, path: "k") == raw)
    }

    @Test("a file too big or not UTF-8 is not a key file")
    func notText() throws {
        let directory = try temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let binary = (directory as NSString).appendingPathComponent("binary.key")
        try Data([0xFF, 0xFE, 0x00, 0xC3]).write(to: URL(fileURLWithPath: binary))
        #expect(error { () throws(KeyFileError) in try KeyFile.loadSigningKey(path: binary) } == .notAKeyFile(path: binary))
        let big = try write(String(repeating: "#", count: 70_000), in: directory, name: "big.key")
        #expect(error { () throws(KeyFileError) in try KeyFile.loadSigningKey(path: big) } == .notAKeyFile(path: big))
    }

    @Test("a directory that cannot be created is reported as unwritable")
    func unwritable() throws {
        let directory = try temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let file = try write("x", in: directory, name: "a-file")
        let target = (file as NSString).appendingPathComponent("keys")
        guard case .unwritable(let path, _)? = error({ () throws(KeyFileError) in try KeyFile.generate(into: target, force: false) }) else {
            Issue.record("expected .unwritable")
            return
        }
        #expect(path == target)
    }
}
