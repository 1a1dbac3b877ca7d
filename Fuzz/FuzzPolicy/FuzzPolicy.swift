// libFuzzer target: the policy loader (Yams, decoder, validator) on arbitrary text. It must
// load or report diagnostics, never crash. Build and run with scripts/fuzz.
import SluicePolicy

/// Stops the run with `message` when `condition` fails (libFuzzer keeps the input).
private func require(_ condition: Bool, _ message: @autoclosure () -> String) {
    if !condition { fatalError("FuzzPolicy invariant: \(message())") }
}

/// Input: policy YAML. Bytes that are not UTF-8 are refused before the loader (as
/// `load(contentsOf:)` does), so they are skipped.
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzPolicy(_ data: UnsafePointer<UInt8>?, _ size: Int) -> CInt {
    let bytes = UnsafeBufferPointer(start: data, count: data == nil ? 0 : size)
    guard let yaml = String(validating: bytes, as: UTF8.self) else { return 0 }
    do {
        _ = try PolicyLoader.load(yaml: yaml, file: "fuzz.yaml")
    } catch {
        let diagnostics = error.diagnostics
        require(!diagnostics.isEmpty, "a failed load with no diagnostic")
        for diagnostic in diagnostics {
            require(diagnostic.line >= 1 && diagnostic.column >= 1, "position \(diagnostic.line):\(diagnostic.column)")
            require(!diagnostic.message.isEmpty, "a diagnostic with no message")
            require(diagnostic.file == "fuzz.yaml", "file label")
        }
        let positions = diagnostics.map { ($0.line, $0.column) }
        require(zip(positions, positions.dropFirst()).allSatisfy { $0 <= $1 }, "diagnostics not sorted")
    }
    return 0
}
