/// A validating, allocation-light JSON scanner that reports where an object's members are.
///
/// The proxy needs three facts from a request body (is it valid JSON, which `model`, is it
/// a stream) and sometimes edits one or two members in place. Decoding the whole body into
/// Foundation objects and re-encoding it costs far more than the call itself on the hot
/// path, so this scanner checks the full RFC 8259 grammar once (strings must be well-formed
/// UTF-8; a byte order mark and trailing commas are refused) and returns the byte ranges
/// of the members of one object; callers splice bytes instead of re-encoding.
public struct JSONScanner {
    /// What kind of value a member holds.
    public enum ValueKind: Sendable, Equatable {
        case object, array, string, number, `true`, `false`, null
    }

    /// One member of a scanned object, with byte offsets into the scanned bytes.
    public struct Member: Sendable, Equatable {
        /// The decoded key.
        public var key: String
        /// From the key's opening quote to just past its closing quote.
        public var keyRange: Range<Int>
        /// The value's bytes (for strings, including the quotes).
        public var valueRange: Range<Int>
        public var kind: ValueKind
    }

    /// A scanned object: its members and the offsets of its braces.
    public struct Object: Sendable, Equatable {
        public var members: [Member]
        /// Offset of `{`.
        public var openBrace: Int
        /// Offset of `}`.
        public var closeBrace: Int

        /// The last member with `key` (JSON parsers keep the last duplicate).
        public func member(_ key: String) -> Member? {
            members.last { $0.key == key }
        }
    }

    /// Why bytes are not JSON, with the offset where it went wrong.
    public struct Failure: Error, Sendable, Equatable, CustomStringConvertible {
        public var offset: Int
        public var reason: String
        public var description: String { "\(reason) at byte \(offset)" }
    }

    /// Nesting deeper than this is refused, so hostile input cannot exhaust the stack.
    public static let maximumDepth = 256

    private let bytes: UnsafeRawBufferPointer
    private var index: Int

    private init(_ bytes: UnsafeRawBufferPointer, at index: Int) {
        self.bytes = bytes
        self.index = index
    }

    /// Validates that `bytes` hold exactly one JSON object (surrounding whitespace allowed)
    /// and returns its members.
    public static func scanObject(_ bytes: UnsafeRawBufferPointer) throws(Failure) -> Object {
        var scanner = JSONScanner(bytes, at: 0)
        scanner.skipWhitespace()
        let object = try scanner.scanObject(depth: 0, collectMembers: true)
        scanner.skipWhitespace()
        guard scanner.index == bytes.count else {
            throw Failure(offset: scanner.index, reason: "unexpected data after the JSON value")
        }
        return object
    }

    /// Scans the object that starts at `range.lowerBound` (a nested value whose range came
    /// from an earlier scan) without revalidating what follows it.
    public static func scanObject(_ bytes: UnsafeRawBufferPointer, in range: Range<Int>) throws(Failure) -> Object {
        let slice = UnsafeRawBufferPointer(rebasing: bytes[..<range.upperBound])
        var scanner = JSONScanner(slice, at: range.lowerBound)
        return try scanner.scanObject(depth: 0, collectMembers: true)
    }

    /// Validates that `bytes` are one JSON value of any kind.
    public static func validate(_ bytes: UnsafeRawBufferPointer) throws(Failure) {
        var scanner = JSONScanner(bytes, at: 0)
        scanner.skipWhitespace()
        _ = try scanner.skipValue(depth: 0)
        scanner.skipWhitespace()
        guard scanner.index == bytes.count else {
            throw Failure(offset: scanner.index, reason: "unexpected data after the JSON value")
        }
    }

    /// Whether the bytes from `offset` to the end are the rest of an object's members and
    /// its closing brace: `(, "key": value)* }` and nothing but whitespace after. Used to
    /// confirm a member found near the end of a document belongs to the outermost object.
    public static func isRestOfObject(_ bytes: UnsafeRawBufferPointer, from offset: Int) -> Bool {
        var scanner = JSONScanner(bytes, at: offset)
        while true {
            scanner.skipWhitespace()
            guard scanner.index < bytes.count else { return false }
            if bytes[scanner.index] == UInt8(ascii: "}") {
                scanner.index += 1
                scanner.skipWhitespace()
                return scanner.index == bytes.count
            }
            guard bytes[scanner.index] == UInt8(ascii: ",") else { return false }
            scanner.index += 1
            scanner.skipWhitespace()
            guard scanner.index < bytes.count, bytes[scanner.index] == UInt8(ascii: "\"") else { return false }
            do {
                try scanner.skipString()
                scanner.skipWhitespace()
                guard scanner.index < bytes.count, bytes[scanner.index] == UInt8(ascii: ":") else { return false }
                scanner.index += 1
                scanner.skipWhitespace()
                _ = try scanner.skipValue(depth: 1)
            } catch {
                return false
            }
        }
    }

    /// Decodes the JSON string whose quoted bytes are at `range`.
    public static func decodeString(_ bytes: UnsafeRawBufferPointer, _ range: Range<Int>) -> String {
        guard range.count >= 2 else { return "" }
        let inner = UnsafeRawBufferPointer(rebasing: bytes[(range.lowerBound + 1)..<(range.upperBound - 1)])
        if !inner.contains(UInt8(ascii: "\\")) {
            return String(decoding: inner, as: UTF8.self)
        }
        var out: [UInt8] = []
        out.reserveCapacity(inner.count)
        var i = 0
        while i < inner.count {
            let byte = inner[i]
            guard byte == UInt8(ascii: "\\"), i + 1 < inner.count else {
                out.append(byte)
                i += 1
                continue
            }
            let escape = inner[i + 1]
            i += 2
            switch escape {
            case UInt8(ascii: "b"): out.append(0x08)
            case UInt8(ascii: "f"): out.append(0x0C)
            case UInt8(ascii: "n"): out.append(0x0A)
            case UInt8(ascii: "r"): out.append(0x0D)
            case UInt8(ascii: "t"): out.append(0x09)
            case UInt8(ascii: "u"):
                var scalar = readHex4(inner, at: i)
                i += 4
                if (0xD800..<0xDC00).contains(scalar), i + 5 < inner.count,
                   inner[i] == UInt8(ascii: "\\"), inner[i + 1] == UInt8(ascii: "u") {
                    let low = readHex4(inner, at: i + 2)
                    if (0xDC00..<0xE000).contains(low) {
                        scalar = 0x10000 + ((scalar - 0xD800) << 10) + (low - 0xDC00)
                        i += 6
                    }
                }
                let character = Unicode.Scalar(scalar) ?? "\u{FFFD}"
                out.append(contentsOf: Array(String(character).utf8))
            default: out.append(escape)
            }
        }
        return String(decoding: out, as: UTF8.self)
    }

    private static func readHex4(_ bytes: UnsafeRawBufferPointer, at offset: Int) -> UInt32 {
        var value: UInt32 = 0
        for k in 0..<4 {
            guard offset + k < bytes.count, let digit = hexValue(bytes[offset + k]) else { return 0xFFFD }
            value = value << 4 | UInt32(digit)
        }
        return value
    }

    private static func hexValue(_ byte: UInt8) -> UInt8? {
        switch byte {
        case UInt8(ascii: "0")...UInt8(ascii: "9"): return byte - UInt8(ascii: "0")
        case UInt8(ascii: "a")...UInt8(ascii: "f"): return byte - UInt8(ascii: "a") + 10
        case UInt8(ascii: "A")...UInt8(ascii: "F"): return byte - UInt8(ascii: "A") + 10
        default: return nil
        }
    }

    // MARK: - Grammar

    private mutating func skipWhitespace() {
        while index < bytes.count {
            switch bytes[index] {
            case 0x20, 0x09, 0x0A, 0x0D: index += 1
            default: return
            }
        }
    }

    private func fail(_ reason: String) -> Failure {
        Failure(offset: index, reason: reason)
    }

    private mutating func scanObject(depth: Int, collectMembers: Bool) throws(Failure) -> Object {
        guard index < bytes.count, bytes[index] == UInt8(ascii: "{") else { throw fail("expected an object") }
        guard depth < JSONScanner.maximumDepth else { throw fail("nesting too deep") }
        let open = index
        index += 1
        var members: [Member] = []
        skipWhitespace()
        if index < bytes.count, bytes[index] == UInt8(ascii: "}") {
            index += 1
            return Object(members: members, openBrace: open, closeBrace: index - 1)
        }
        if collectMembers { members.reserveCapacity(8) } // one allocation for the usual object
        while true {
            skipWhitespace()
            guard index < bytes.count, bytes[index] == UInt8(ascii: "\"") else { throw fail("expected a member name") }
            let keyStart = index
            try skipString()
            let keyRange = keyStart..<index
            skipWhitespace()
            guard index < bytes.count, bytes[index] == UInt8(ascii: ":") else { throw fail("expected ':'") }
            index += 1
            skipWhitespace()
            let valueStart = index
            let kind = try skipValue(depth: depth + 1)
            if collectMembers {
                members.append(Member(
                    key: JSONScanner.decodeString(bytes, keyRange),
                    keyRange: keyRange,
                    valueRange: valueStart..<index,
                    kind: kind
                ))
            }
            skipWhitespace()
            guard index < bytes.count else { throw fail("unterminated object") }
            if bytes[index] == UInt8(ascii: ",") {
                index += 1
                continue
            }
            guard bytes[index] == UInt8(ascii: "}") else { throw fail("expected ',' or '}'") }
            index += 1
            return Object(members: members, openBrace: open, closeBrace: index - 1)
        }
    }

    private mutating func skipValue(depth: Int) throws(Failure) -> ValueKind {
        guard index < bytes.count else { throw fail("expected a value") }
        switch bytes[index] {
        case UInt8(ascii: "{"):
            _ = try scanObject(depth: depth, collectMembers: false)
            return .object
        case UInt8(ascii: "["):
            try skipArray(depth: depth)
            return .array
        case UInt8(ascii: "\""):
            try skipString()
            return .string
        case UInt8(ascii: "t"):
            try skipLiteral("true")
            return .true
        case UInt8(ascii: "f"):
            try skipLiteral("false")
            return .false
        case UInt8(ascii: "n"):
            try skipLiteral("null")
            return .null
        case UInt8(ascii: "-"), UInt8(ascii: "0")...UInt8(ascii: "9"):
            try skipNumber()
            return .number
        default:
            throw fail("unexpected character")
        }
    }

    private mutating func skipArray(depth: Int) throws(Failure) {
        guard depth < JSONScanner.maximumDepth else { throw fail("nesting too deep") }
        index += 1
        skipWhitespace()
        if index < bytes.count, bytes[index] == UInt8(ascii: "]") {
            index += 1
            return
        }
        while true {
            skipWhitespace()
            _ = try skipValue(depth: depth + 1)
            skipWhitespace()
            guard index < bytes.count else { throw fail("unterminated array") }
            if bytes[index] == UInt8(ascii: ",") {
                index += 1
                continue
            }
            guard bytes[index] == UInt8(ascii: "]") else { throw fail("expected ',' or ']'") }
            index += 1
            return
        }
    }

    private mutating func skipString() throws(Failure) {
        index += 1
        while index < bytes.count {
            let byte = bytes[index]
            switch byte {
            case UInt8(ascii: "\""):
                index += 1
                return
            case UInt8(ascii: "\\"):
                guard index + 1 < bytes.count else { throw fail("unterminated string") }
                let escape = bytes[index + 1]
                switch escape {
                case UInt8(ascii: "\""), UInt8(ascii: "\\"), UInt8(ascii: "/"), UInt8(ascii: "b"),
                     UInt8(ascii: "f"), UInt8(ascii: "n"), UInt8(ascii: "r"), UInt8(ascii: "t"):
                    index += 2
                case UInt8(ascii: "u"):
                    guard index + 5 < bytes.count else { throw fail("unterminated string") }
                    for k in 2...5 where JSONScanner.hexValue(bytes[index + k]) == nil {
                        throw Failure(offset: index + k, reason: "invalid \\u escape")
                    }
                    index += 6
                default:
                    throw fail("invalid escape")
                }
            case 0x00..<0x20:
                throw fail("control character in string")
            case 0x20..<0x80:
                index += 1
            default:
                try skipUTF8Sequence()
            }
        }
        throw fail("unterminated string")
    }

    /// Skips one multi-byte UTF-8 sequence, refusing what is not well-formed UTF-8
    /// (Unicode table 3-7): stray continuation bytes, overlong forms, surrogates, > U+10FFFF.
    private mutating func skipUTF8Sequence() throws(Failure) {
        let lead = bytes[index]
        let length: Int
        var secondRange: ClosedRange<UInt8> = 0x80...0xBF
        switch lead {
        case 0xC2...0xDF: length = 2
        case 0xE0: length = 3; secondRange = 0xA0...0xBF
        case 0xED: length = 3; secondRange = 0x80...0x9F
        case 0xE1...0xEC, 0xEE...0xEF: length = 3
        case 0xF0: length = 4; secondRange = 0x90...0xBF
        case 0xF1...0xF3: length = 4
        case 0xF4: length = 4; secondRange = 0x80...0x8F
        default: throw fail("invalid UTF-8")
        }
        guard index + 1 < bytes.count, secondRange.contains(bytes[index + 1]) else { throw fail("invalid UTF-8") }
        for k in 2..<length where index + k >= bytes.count || bytes[index + k] & 0xC0 != 0x80 {
            throw fail("invalid UTF-8")
        }
        index += length
    }

    private mutating func skipLiteral(_ literal: StaticString) throws(Failure) {
        let count = literal.utf8CodeUnitCount
        guard index + count <= bytes.count else { throw fail("invalid literal") }
        let matches = literal.withUTF8Buffer { expected in
            (0..<count).allSatisfy { bytes[index + $0] == expected[$0] }
        }
        guard matches else { throw fail("invalid literal") }
        index += count
    }

    private mutating func skipNumber() throws(Failure) {
        if bytes[index] == UInt8(ascii: "-") { index += 1 }
        guard index < bytes.count else { throw fail("invalid number") }
        if bytes[index] == UInt8(ascii: "0") {
            index += 1
        } else if isDigit(at: index) {
            while isDigit(at: index) { index += 1 }
        } else {
            throw fail("invalid number")
        }
        if index < bytes.count, bytes[index] == UInt8(ascii: ".") {
            index += 1
            guard isDigit(at: index) else { throw fail("invalid number") }
            while isDigit(at: index) { index += 1 }
        }
        if index < bytes.count, bytes[index] == UInt8(ascii: "e") || bytes[index] == UInt8(ascii: "E") {
            index += 1
            if index < bytes.count, bytes[index] == UInt8(ascii: "+") || bytes[index] == UInt8(ascii: "-") { index += 1 }
            guard isDigit(at: index) else { throw fail("invalid number") }
            while isDigit(at: index) { index += 1 }
        }
    }

    private func isDigit(at offset: Int) -> Bool {
        offset < bytes.count && bytes[offset] >= UInt8(ascii: "0") && bytes[offset] <= UInt8(ascii: "9")
    }
}
