// libFuzzer target: SnapshotVerifier on arbitrary envelope bytes. It must refuse or accept,
// never crash, and accept only what the fixed key signed. Build and run with scripts/fuzz.
import Crypto
import Foundation
import SluiceSnapshot

/// Stops the run with `message` when `condition` fails (libFuzzer keeps the input).
private func require(_ condition: Bool, _ message: @autoclosure () -> String) {
    if !condition { fatalError("FuzzSnapshot invariant: \(message())") }
}

/// The seeds are signed with this key (raw seed: 32 bytes of 0x07; Fuzz/make_seeds.py uses the same).
private let trusted: Curve25519.Signing.PublicKey = {
    guard let key = try? Curve25519.Signing.PrivateKey(rawRepresentation: Data(repeating: 7, count: 32)) else {
        fatalError("FuzzSnapshot: fixed key")
    }
    return key.publicKey
}()
/// A key that signed nothing: it must never accept what `trusted` accepts.
private let stranger = Curve25519.Signing.PrivateKey().publicKey
/// Small, so the size bound is reached by the mutator (scripts/fuzz caps inputs at 8 KiB).
private let maxBytes = 4096

/// Input: envelope bytes, verified as a sidecar holding no snapshot would.
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzSnapshot(_ data: UnsafePointer<UInt8>?, _ size: Int) -> CInt {
    let bytes = Array(UnsafeBufferPointer(start: data, count: data == nil ? 0 : size))
    let verifier = SnapshotVerifier(trustedKey: trusted, maxBytes: maxBytes)
    let result = verifier.verify(bytes, newerThan: nil)
    require(verifier.verify(bytes, newerThan: nil) == result, "not deterministic")
    if bytes.count > maxBytes { require(result == .failure(.oversized), "over the bound but \(result)") }
    guard case .success(let snapshot) = result else { return 0 }
    require(snapshot.hash == PolicySnapshot.hash(of: snapshot.policy), "accepted with a wrong hash")
    require(verifier.verify(bytes, newerThan: snapshot.version) == .failure(.stale), "a replay accepted")
    if snapshot.version > 0 {
        require(verifier.verify(bytes, newerThan: snapshot.version - 1) == result, "an older held version refused")
    }
    let other = SnapshotVerifier(trustedKey: stranger, maxBytes: maxBytes).verify(bytes, newerThan: nil)
    require(other == .failure(.badSignature), "another key accepted it: \(other)")
    return 0
}
