/// A 1-based line and column in the policy file.
struct SourcePosition: Sendable, Equatable, Comparable {
    var line: Int
    var column: Int

    /// The start of the file, used when there is no better place to point at.
    static let start = SourcePosition(line: 1, column: 1)

    static func < (lhs: SourcePosition, rhs: SourcePosition) -> Bool {
        (lhs.line, lhs.column) < (rhs.line, rhs.column)
    }
}

/// A value read from the policy file, with where it was found and its dotted field path.
struct Located<Value> {
    var value: Value
    var position: SourcePosition
    var field: String
}

extension Located: Sendable where Value: Sendable {}

/// Dotted field paths: `providers.openai.kind`, `routes[0].targets[1].model`.
enum FieldPath {
    static func join(_ parent: String, _ key: String) -> String {
        parent.isEmpty ? key : "\(parent).\(key)"
    }

    static func index(_ parent: String, _ index: Int) -> String {
        "\(parent)[\(index)]"
    }
}
