import Yams

extension Node {
    /// Where the node starts in the file (its first character; for a block mapping, its first key).
    var position: SourcePosition {
        guard let mark else { return .start }
        return SourcePosition(line: mark.line, column: mark.column)
    }
}

extension Node.Mapping {
    /// Where the mapping starts: its `{` or, for a block mapping, its first key.
    var position: SourcePosition {
        guard let mark else { return .start }
        return SourcePosition(line: mark.line, column: mark.column)
    }
}

extension Node {
    /// The resolved tag's name (`Tag.name` itself is internal to Yams).
    var tagName: Tag.Name { Tag.Name(rawValue: tag.rawValue) }

    /// What the node is, for "expected X, got Y" messages: "a string", "a number", "a list"...
    var kindDescription: String {
        switch self {
        case .mapping: return "a mapping"
        case .sequence: return "a list"
        case .alias: return "an alias"
        case .scalar:
            switch tagName {
            case .str: return "a string"
            case .int, .float: return "a number"
            case .bool: return "a boolean"
            case .null: return "null"
            case .timestamp: return "a date"
            case .binary: return "binary data"
            default: return "a value tagged \(tag.rawValue)"
            }
        }
    }

    /// True for a scalar the resolver reads as a string (quoted, or plain text that is no
    /// number, boolean, null or date).
    var isStringScalar: Bool {
        if case .scalar = self { return tagName == .str }
        return false
    }

    /// True for a plain `~`, `null` or empty value.
    var isNull: Bool {
        if case .scalar = self { return tagName == .null }
        return false
    }
}
