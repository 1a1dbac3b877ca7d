// SnapshotSigner / SnapshotVerifier: the round trip and every way an envelope is refused.
import Crypto
import Foundation
import Testing
@testable import SluiceSnapshot

@Suite("SnapshotVerifier")
struct SnapshotVerifierTests {
    static let policyText = "providers:\n  openai:\n    kind: openai\n    base_url: https://api.openai.com\n"

    let key = Curve25519.Signing.PrivateKey()
    var signer: SnapshotSigner { SnapshotSigner(privateKey: key) }
    var verifier: SnapshotVerifier { SnapshotVerifier(trustedKey: key.publicKey) }

    func snapshot(version: UInt64 = 7, policy: String = SnapshotVerifierTests.policyText) -> PolicySnapshot {
        PolicySnapshot(
            version: version,
            issuedAt: Date(timeIntervalSince1970: 1_800_000_000),
            policy: policy,
            peers: ["10.0.0.1:9901", "[::1]:9902"]
        )
    }

    /// The envelope's JSON object, to tamper with field by field.
    func fields(_ bytes: [UInt8]) throws -> [String: Any] {
        try #require(JSONSerialization.jsonObject(with: Data(bytes)) as? [String: Any])
    }

    func bytes(_ object: [String: Any]) throws -> [UInt8] {
        Array(try JSONSerialization.data(withJSONObject: object))
    }

    @Test("a signed snapshot verifies and comes back field for field")
    func roundTrip() throws {
        let original = snapshot()
        let result = verifier.verify(try signer.sign(original), newerThan: nil)
        #expect(result == .success(original))
        #expect(original.hash == PolicySnapshot.hash(of: Self.policyText))
        #expect(original.issuedAt == "2027-01-15T08:00:00Z")
    }

    @Test("a newer version than the one held is accepted")
    func newer() throws {
        #expect(verifier.verify(try signer.sign(snapshot(version: 8)), newerThan: 7) == .success(snapshot(version: 8)))
        #expect(verifier.verify(try signer.sign(snapshot(version: 1)), newerThan: 0) == .success(snapshot(version: 1)))
    }

    @Test("the same version replayed, or an older one, is stale")
    func stale() throws {
        let envelope = try signer.sign(snapshot(version: 7))
        #expect(verifier.verify(envelope, newerThan: 7) == .failure(.stale))
        #expect(verifier.verify(envelope, newerThan: 8) == .failure(.stale))
        #expect(verifier.verify(envelope, newerThan: UInt64.max) == .failure(.stale))
    }

    @Test("an envelope signed by another key is a bad signature")
    func wrongKey() throws {
        let other = SnapshotSigner(privateKey: Curve25519.Signing.PrivateKey())
        #expect(verifier.verify(try other.sign(snapshot()), newerThan: nil) == .failure(.badSignature))
        let otherVerifier = SnapshotVerifier(trustedKey: other.publicKey)
        #expect(otherVerifier.verify(try signer.sign(snapshot()), newerThan: nil) == .failure(.badSignature))
    }

    @Test("a forged signature (flipped bit, zeroes, wrong length) is a bad signature")
    func forgedSignature() throws {
        var object = try fields(try signer.sign(snapshot()))
        let encodedSignature = try #require(object["signature"] as? String)
        var signature = try #require(Data(base64Encoded: encodedSignature))
        signature[0] ^= 0x01
        object["signature"] = signature.base64EncodedString()
        #expect(verifier.verify(try bytes(object), newerThan: nil) == .failure(.badSignature))
        object["signature"] = Data(count: 64).base64EncodedString()
        #expect(verifier.verify(try bytes(object), newerThan: nil) == .failure(.badSignature))
        object["signature"] = Data(count: 12).base64EncodedString()
        #expect(verifier.verify(try bytes(object), newerThan: nil) == .failure(.badSignature))
    }

    @Test("policy text edited in transit (signature not redone) is a bad signature")
    func tamperedInTransit() throws {
        var object = try fields(try signer.sign(snapshot()))
        var edited = snapshot()
        edited.policy += "  evil:\n    kind: openai\n"
        edited.hash = PolicySnapshot.hash(of: edited.policy)
        object["snapshot"] = try SnapshotSigner.snapshotBytes(edited).base64EncodedString()
        #expect(verifier.verify(try bytes(object), newerThan: nil) == .failure(.badSignature))
    }

    @Test("a signed snapshot whose hash is not its policy's SHA-256 is a hash mismatch")
    func hashMismatch() throws {
        var tampered = snapshot()
        tampered.policy += "# edited after hashing\n"
        #expect(verifier.verify(try signer.sign(tampered), newerThan: nil) == .failure(.hashMismatch))
        var uppercase = snapshot()
        uppercase.hash = uppercase.hash.uppercased()
        #expect(verifier.verify(try signer.sign(uppercase), newerThan: nil) == .failure(.hashMismatch))
    }

    @Test("an envelope over the byte bound is oversized, the bound itself is fine")
    func oversized() throws {
        let envelope = try signer.sign(snapshot())
        #expect(SnapshotVerifier(trustedKey: key.publicKey, maxBytes: envelope.count).verify(envelope, newerThan: nil) == .success(snapshot()))
        #expect(SnapshotVerifier(trustedKey: key.publicKey, maxBytes: envelope.count - 1).verify(envelope, newerThan: nil) == .failure(.oversized))
        let huge = try signer.sign(snapshot(policy: String(repeating: "x", count: SnapshotEnvelope.defaultMaxBytes)))
        #expect(verifier.verify(huge, newerThan: nil) == .failure(.oversized))
    }

    @Test("every truncation of a valid envelope is refused without a trap")
    func truncated() throws {
        let envelope = try signer.sign(snapshot())
        for length in 0..<envelope.count {
            let result = verifier.verify(Array(envelope[..<length]), newerThan: nil)
            #expect(result == .failure(.malformed), "length \(length)")
        }
    }

    @Test("garbage is malformed", arguments: [
        "", "null", "[]", "42", "\"format\"", "{}", "{\"format\":\"1\"}", "{\"format\":1}",
        "{\"format\":1,\"snapshot\":\"!!\",\"signature\":\"AA==\"}",
        "{\"format\":1,\"snapshot\":1,\"signature\":\"AA==\"}",
        "\u{FF}\u{FE}", "{\"format\":1e400}", String(repeating: "[", count: 10_000),
    ])
    func garbage(_ text: String) {
        #expect(verifier.verify(Array(text.utf8), newerThan: nil) == .failure(.malformed))
    }

    @Test("random bytes never verify and never trap")
    func randomBytes() throws {
        var generator = SystemRandomNumberGenerator()
        let valid = try signer.sign(snapshot())
        for _ in 0..<500 {
            let random = (0..<Int.random(in: 0...300, using: &generator)).map { _ in UInt8.random(in: 0...255, using: &generator) }
            #expect(verifier.verify(random, newerThan: nil) == .failure(.malformed))
            var flipped = valid
            flipped[Int.random(in: 0..<flipped.count, using: &generator)] ^= UInt8.random(in: 1...255, using: &generator)
            // A flip in a base64 padding bit can decode to the same bytes; anything else is refused.
            switch verifier.verify(flipped, newerThan: nil) {
            case .success(let accepted): #expect(accepted == snapshot())
            case .failure: break
            }
        }
    }

    @Test("an unknown format number is unsupported, not malformed")
    func unsupportedFormat() throws {
        var object = try fields(try signer.sign(snapshot()))
        for format in [0, 2, 99, -1] {
            object["format"] = format
            #expect(verifier.verify(try bytes(object), newerThan: nil) == .failure(.unsupportedFormat))
        }
    }

    @Test("a signed body that is not a snapshot is malformed")
    func signedGarbage() throws {
        let body = Data("{\"version\":1}".utf8)
        let envelope = SnapshotEnvelope(
            format: 1,
            snapshot: body.base64EncodedString(),
            signature: try key.signature(for: body).base64EncodedString()
        )
        #expect(verifier.verify(envelope.encoded(), newerThan: nil) == .failure(.malformed))
    }

    @Test("the snapshot's JSON uses snake_case field names")
    func wireNames() throws {
        let object = try #require(JSONSerialization.jsonObject(with: SnapshotSigner.snapshotBytes(snapshot())) as? [String: Any])
        #expect(Set(object.keys) == ["version", "hash", "issued_at", "policy", "peers"])
        let envelope = try fields(try signer.sign(snapshot()))
        #expect(Set(envelope.keys) == ["format", "snapshot", "signature"])
        #expect(envelope["format"] as? Int == 1)
    }

    @Test("an envelope made by another implementation (Python's cryptography, Fuzz/make_seeds.py) verifies")
    func interoperable() throws {
        let key = try Curve25519.Signing.PrivateKey(rawRepresentation: Data(repeating: 7, count: 32))
        let envelope = #"{"format":1,"signature":"FlWOF8nRNr3/8MQI2/ACuWCYmjpjFoq5pA145WetPrkC5w/jtyyuZlnaEE1P7iJgywEWxYsdjeIKtaxjbZcUCQ==","snapshot":"eyJoYXNoIjoiYmZjNjVkOWI4YzhiZDI2ZWNjMmM1N2EzZTg0YjAwMDFmYmYyYjcwZTkzZjIwMDk1NzBkNjQyZThiZjRkNzg0NyIsImlzc3VlZF9hdCI6IjIwMjYtMTItMDFUMDE6MjA6MDBaIiwicGVlcnMiOlsiMTI3LjAuMC4xOjk5MDEiLCJbOjoxXTo5OTAyIl0sInBvbGljeSI6InByb3ZpZGVyczpcbiAgb3BlbmFpOlxuICAgIGtpbmQ6IG9wZW5haVxuICAgIGJhc2VfdXJsOiBodHRwczovL2FwaS5vcGVuYWkuY29tXG4iLCJ2ZXJzaW9uIjozfQ=="}"#
        let result = SnapshotVerifier(trustedKey: key.publicKey).verify(Array(envelope.utf8), newerThan: 2)
        let snapshot = try result.get()
        #expect(snapshot.version == 3)
        #expect(snapshot.issuedAt == "2026-12-01T01:20:00Z")
        #expect(snapshot.peers == ["127.0.0.1:9901", "[::1]:9902"])
        #expect(snapshot.policy == Self.policyText)
    }

    @Test("rejection raw values are the stable metric labels")
    func labels() {
        #expect(SnapshotRejection.allCases.map(\.rawValue) == [
            "oversized", "malformed", "unsupported_format", "bad_signature", "hash_mismatch", "stale",
        ])
    }
}
