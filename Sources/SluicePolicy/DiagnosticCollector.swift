/// Gathers the diagnostics of one load, so every problem is reported at once.
struct DiagnosticCollector {
    let file: String
    private(set) var diagnostics: [PolicyDiagnostic] = []

    init(file: String) {
        self.file = file
    }

    var isEmpty: Bool { diagnostics.isEmpty }

    mutating func report(_ message: String, at position: SourcePosition, field: String) {
        diagnostics.append(PolicyDiagnostic(
            file: file, line: position.line, column: position.column, field: field, message: message
        ))
    }

    mutating func report<Value>(_ message: String, about value: Located<Value>) {
        report(message, at: value.position, field: value.field)
    }

    /// The collected diagnostics as an error, sorted by position.
    var error: PolicyError { PolicyError(diagnostics: diagnostics) }
}
