// libFuzzer target: ProtocolPreface.classify on every prefix of the input, against a naive
// reference and for consistency as bytes arrive. Build and run with scripts/fuzz.
import SluiceWire

private let preface = Array("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n".utf8)

/// Stops the run with `message` when `condition` fails (libFuzzer keeps the input).
private func require(_ condition: Bool, _ message: @autoclosure () -> String) {
    if !condition { fatalError("FuzzPreface invariant: \(message())") }
}

/// The decision spelled out the slow way.
private func reference(_ bytes: ArraySlice<UInt8>) -> ProtocolPreface.Decision {
    if bytes.starts(with: preface) { return .http2 }
    if preface.starts(with: bytes) { return .needMoreBytes }
    return .http1
}

/// Input: the first bytes of a connection. The fuzzer is seeded with prefaces and request
/// lines so it explores near the preface.
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzPreface(_ data: UnsafePointer<UInt8>?, _ size: Int) -> CInt {
    let bytes = data.map { Array(UnsafeBufferPointer(start: $0, count: size)) } ?? []
    var decided: ProtocolPreface.Decision?
    for count in 0...bytes.count {
        let prefix = bytes[..<count]
        let decision = prefix.withUnsafeBytes { ProtocolPreface.classify($0) }
        require(decision == reference(prefix), "\(decision) for \(Array(prefix))")
        // Once decided, more bytes never change the decision.
        if let decided { require(decision == decided, "decision changed at \(count) bytes") }
        if decision != .needMoreBytes, decided == nil { decided = decision }
        if count > preface.count + 1 { break }
    }
    return 0
}
