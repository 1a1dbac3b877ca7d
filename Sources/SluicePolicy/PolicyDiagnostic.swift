/// One problem found in a policy file, with the position of the offending YAML node.
///
/// Lines and columns are 1-based; columns count Unicode scalars, as libYAML does.
/// `field` is the dotted path of the offending value, e.g. `routes[0].targets[1].model`
/// or `providers.openai.kind`; it is empty for problems with the file as a whole
/// (unreadable file, YAML syntax error).
public struct PolicyDiagnostic: Sendable, Equatable, CustomStringConvertible {
    public var file: String
    public var line: Int
    public var column: Int
    public var field: String
    public var message: String

    public init(file: String, line: Int, column: Int, field: String, message: String) {
        self.file = file
        self.line = line
        self.column = column
        self.field = field
        self.message = message
    }

    /// `FILE:LINE:COLUMN: field: message`, or `FILE:LINE:COLUMN: message` when `field` is empty.
    public var description: String {
        let location = "\(file):\(line):\(column)"
        return field.isEmpty ? "\(location): \(message)" : "\(location): \(field): \(message)"
    }
}

/// Every problem found while loading a policy file, sorted by line and column.
public struct PolicyError: Error, Sendable, Equatable, CustomStringConvertible {
    public var diagnostics: [PolicyDiagnostic]

    /// Wraps `diagnostics`, sorting them by line then column (keeping the found order on ties).
    public init(diagnostics: [PolicyDiagnostic]) {
        self.diagnostics = diagnostics.enumerated()
            .sorted { lhs, rhs in
                (lhs.element.line, lhs.element.column, lhs.offset)
                    < (rhs.element.line, rhs.element.column, rhs.offset)
            }
            .map(\.element)
    }

    /// One diagnostic per line, no trailing newline.
    public var description: String {
        diagnostics.map(\.description).joined(separator: "\n")
    }
}
