import Yams

/// Turns a Yams error (syntax error, duplicate key, undecodable input) into one diagnostic
/// at the position Yams reports.
enum YAMLErrorDiagnostic {
    static func diagnostic(for error: any Error, file: String) -> PolicyDiagnostic {
        let (position, message) = describe(error)
        return PolicyDiagnostic(
            file: file, line: position.line, column: position.column, field: "", message: message
        )
    }

    private static func describe(_ error: any Error) -> (SourcePosition, String) {
        guard let error = error as? YamlError else {
            return (.start, "invalid YAML: \(error)")
        }
        switch error {
        case let .scanner(context, problem, mark, _),
             let .parser(context, problem, mark, _),
             let .composer(context, problem, mark, _):
            var message = "invalid YAML: \(problem)"
            if let context {
                message += " (\(context.text) at line \(context.mark.line), column \(context.mark.column))"
            }
            return (SourcePosition(line: mark.line, column: mark.column), message)
        case let .reader(problem, offset, _, yaml):
            return (position(ofCharacterOffset: offset, in: yaml), "invalid YAML: \(problem)")
        case let .duplicatedKeysInMapping(duplicates, context):
            let keys = duplicates.map { "\"\($0)\"" }.joined(separator: ", ")
            let noun = duplicates.count == 1 ? "key" : "keys"
            return (SourcePosition(line: context.mark.line, column: context.mark.column), "duplicate \(noun) \(keys)")
        default:
            return (.start, "invalid YAML: \(error)")
        }
    }

    /// Line and column (1-based, in Unicode scalars) of a Character offset into `text`.
    private static func position(ofCharacterOffset offset: Int?, in text: String) -> SourcePosition {
        guard let offset else { return .start }
        var line = 1
        var column = 1
        for character in text.prefix(offset) {
            if character == "\n" || character == "\r\n" {
                line += 1
                column = 1
            } else {
                column += character.unicodeScalars.count
            }
        }
        return SourcePosition(line: line, column: column)
    }
}
