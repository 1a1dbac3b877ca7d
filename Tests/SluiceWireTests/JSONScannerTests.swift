// JSONScanner: what it accepts, what it refuses and where, member ranges, string decoding,
// and a differential check against Foundation's parser.
import Foundation
import Testing
@testable import SluiceWire

@Suite("JSONScanner")
struct JSONScannerTests {
    // MARK: - Valid documents

    @Test("accepts every kind of JSON value", arguments: [
        "{}", "[]", "\"\"", "0", "-0", "7", "-12", "3.25", "-0.5", "1e10", "1E+2", "2.5e-3", "-0.0E-0",
        "123456789012345678901234567890", "true", "false", "null",
        " \t\r\n{ } \n", "[ ]", "[1, 2 ,3]", "[[[]]]", "{\"a\":{\"b\":{\"c\":[]}}}",
        "\"plain\"", "\"caf\u{E9} \u{65E5}\u{672C} \u{1F600}\"", "\"\\\" \\\\ \\/ \\b \\f \\n \\r \\t\"",
        "\"\\u0000 \\u00e9 \\u00E9 \\uFFFF \\ud83d\\ude00\"", "\"del \u{7F} is allowed\"",
        "{\"\":\"\"}", "{\"a\":[true,false,null,{},[],\"\",0]}",
        // A lone surrogate escape is valid RFC 8259 grammar (section 8.2); Foundation rejects it.
        "\"\\ud800\"",
    ])
    func acceptsValid(_ json: String) {
        #expect(validationFailure(json) == nil)
    }

    @Test("accepts a real chat completion response")
    func acceptsRealResponse() throws {
        let object = try scanObject(UsageParserTests.chatCompletion).get()
        #expect(object.members.map(\.key) == ["id", "object", "created", "model", "choices", "usage", "service_tier"])
    }

    @Test("reports each member's key, kind and value range")
    func memberRanges() throws {
        let json = #"{ "s" : "x\"y" , "n":-1.5e3,"t":true,"f":false,"z":null,"a":[1,{"b":2}],"o":{"k":"v"} }"#
        let object = try scanObject(json).get()
        let expected: [(String, JSONScanner.ValueKind, String)] = [
            ("s", .string, #""x\"y""#),
            ("n", .number, "-1.5e3"),
            ("t", .true, "true"),
            ("f", .false, "false"),
            ("z", .null, "null"),
            ("a", .array, #"[1,{"b":2}]"#),
            ("o", .object, #"{"k":"v"}"#),
        ]
        #expect(object.members.count == expected.count)
        for (member, (key, kind, value)) in zip(object.members, expected) {
            #expect(member.key == key)
            #expect(member.kind == kind)
            #expect(slice(json, member.valueRange) == value)
            #expect(slice(json, member.keyRange) == "\"\(key)\"")
        }
        #expect(object.openBrace == 0)
        #expect(object.closeBrace == json.utf8.count - 1)
    }

    @Test("brace offsets skip surrounding whitespace")
    func braceOffsets() throws {
        let object = try scanObject("\n\t {\"a\":1}  \r\n").get()
        #expect(object.openBrace == 3)
        #expect(object.closeBrace == 9)
    }

    @Test("decodes escaped keys")
    func escapedKeys() throws {
        let json = #"{"mo\u0064el":1,"a\"b":2,"tab\there":3,"\ud83d\ude00":4,"caf\u00e9":5,"sl\/ash":6,"back\\slash":7}"#
        let object = try scanObject(json).get()
        #expect(object.members.map(\.key) == ["model", "a\"b", "tab\there", "\u{1F600}", "caf\u{E9}", "sl/ash", "back\\slash"])
        #expect(object.member("model").map { slice(json, $0.valueRange) } == "1")
        #expect(object.member("model").map { slice(json, $0.keyRange) } == #""mo\u0064el""#)
    }

    @Test("member(_:) returns the last duplicate, as JSON parsers do")
    func duplicateKeys() throws {
        let json = #"{"model":"first","x":0,"model":"second"}"#
        let object = try scanObject(json).get()
        #expect(object.member("model").map { slice(json, $0.valueRange) } == #""second""#)
        #expect(object.member("absent") == nil)
    }

    @Test("scanObject refuses valid JSON that is not an object", arguments: ["[]", "\"x\"", "1", "null", "  [{}]"])
    func scanObjectRefusesOtherKinds(_ json: String) {
        guard case .failure(let failure) = scanObject(json) else {
            Issue.record("accepted \(json)")
            return
        }
        #expect(failure.reason == "expected an object")
    }

    @Test("scanObject(_:in:) scans a nested object by its range")
    func scanNested() throws {
        let json = #"{"usage":{"prompt_tokens":3,"details":{"cached_tokens":1}},"after":[1,2]}"#
        let bytes = Array(json.utf8)
        let outer = try scanObject(json).get()
        let usage = try #require(outer.member("usage"))
        let inner = try bytes.withUnsafeBytes { raw throws(JSONScanner.Failure) in
            try JSONScanner.scanObject(raw, in: usage.valueRange)
        }
        #expect(inner.members.map(\.key) == ["prompt_tokens", "details"])
        #expect(inner.openBrace == usage.valueRange.lowerBound)
        #expect(inner.closeBrace == usage.valueRange.upperBound - 1)
        let details = try #require(inner.member("details"))
        #expect(slice(json, details.valueRange) == #"{"cached_tokens":1}"#)
    }

    // MARK: - Invalid documents

    static let invalid: [(String, String)] = [
        ("empty", ""),
        ("whitespace only", " \n\t "),
        ("trailing comma in array", "[1,]"),
        ("trailing comma in object", "{\"a\":1,}"),
        ("leading comma", "[,1]"),
        ("empty member", "{,}"),
        ("double comma", "[1,,2]"),
        ("bad escape", "\"\\x\""),
        ("single-quote escape", "\"\\'\""),
        ("upper-case U escape", "\"\\U0041\""),
        ("short unicode escape", "\"\\u12\""),
        ("non-hex unicode escape", "\"\\u12G4\""),
        ("escape at end", "\"\\"),
        ("escaped closing quote only", "\"\\\""),
        ("raw NUL in string", "\"a\u{0}b\""),
        ("raw 0x01 in string", "\"\u{1}\""),
        ("raw tab in string", "\"a\tb\""),
        ("raw newline in string", "\"a\nb\""),
        ("raw 0x1F in string", "\"\u{1F}\""),
        ("leading zero", "01"),
        ("negative leading zero", "-01"),
        ("double zero", "00"),
        ("leading zero in array", "[007]"),
        ("lone minus", "-"),
        ("lone minus in array", "[-]"),
        ("minus before dot", "-.5"),
        ("minus then space", "- 1"),
        ("plus sign", "+1"),
        ("dot without fraction", "1."),
        ("fraction without integer", ".5"),
        ("exponent without digits", "1e"),
        ("signed exponent without digits", "1e+"),
        ("double dot", "1.2.3"),
        ("hex number", "0x10"),
        ("Infinity", "Infinity"),
        ("NaN", "NaN"),
        ("unterminated string", "\"abc"),
        ("unterminated string in object", "{\"a\":\"b}"),
        ("unterminated object", "{"),
        ("object missing value", "{\"a\":"),
        ("object missing colon", "{\"a\" 1}"),
        ("object missing close", "{\"a\":1"),
        ("object with bare key", "{a:1}"),
        ("object with number key", "{1:2}"),
        ("single-quoted string", "'a'"),
        ("unterminated array", "["),
        ("array missing close", "[1"),
        ("array ending in comma", "[1,"),
        ("array closed by brace", "[1}"),
        ("object closed by bracket", "{\"a\":1]"),
        ("garbage after object", "{} x"),
        ("second value", "1 2"),
        ("extra close", "[1]]"),
        ("literal with suffix", "truex"),
        ("comma after value", "null,"),
        ("two strings", "\"a\"\"b\""),
        ("short literal", "tru"),
        ("short null", "nul"),
        ("capitalised literal", "True"),
        ("upper-case null", "NULL"),
        ("block comment", "/* c */ {}"),
        ("line comment", "[1] // c"),
        ("form feed is not whitespace", "\u{C}1"),
        ("vertical tab is not whitespace", "\u{B}1"),
        ("no-break space is not whitespace", "\u{A0}1"),
        ("byte order mark", "\u{FEFF}{}"),
    ]

    @Test("refuses invalid documents", arguments: invalid)
    func refusesInvalid(_ label: String, _ json: String) {
        #expect(validationFailure(json) != nil, "accepted: \(label)")
        // A document that is an object when valid must also fail scanObject.
        if case .success = scanObject(json) {
            Issue.record("scanObject accepted: \(label)")
        }
    }

    @Test("reports where a document goes wrong", arguments: [
        ("[1,]", 3, "unexpected character"),
        ("{\"a\":1,}", 7, "expected a member name"),
        ("{\"a\" 1}", 5, "expected ':'"),
        ("{\"a\":1 \"b\":2}", 7, "expected ',' or '}'"),
        ("[1 2]", 3, "expected ',' or ']'"),
        ("\"ab\\qc\"", 3, "invalid escape"),
        ("\"\\u00G0\"", 5, "invalid \\u escape"),
        ("\"a\nb\"", 2, "control character in string"),
        ("\"abc", 4, "unterminated string"),
        ("{\"a\":1", 6, "unterminated object"),
        ("[1", 2, "unterminated array"),
        ("-x", 1, "invalid number"),
        ("{} x", 3, "unexpected data after the JSON value"),
        ("nul", 0, "invalid literal"),
    ])
    func failureOffsets(_ json: String, _ offset: Int, _ reason: String) {
        let failure = validationFailure(json)
        #expect(failure?.offset == offset)
        #expect(failure?.reason == reason)
    }

    // MARK: - Encoding

    @Test("refuses strings that are not UTF-8", arguments: [
        [0x22, 0xFF, 0x22],                         // never valid in UTF-8
        [0x22, 0x80, 0x22],                         // lone continuation byte
        [0x22, 0xC3, 0x22],                         // lead byte without its continuation
        [0x22, 0xC3, 0xA9, 0xA9, 0x22],             // one continuation too many
        [0x22, 0xC0, 0xAF, 0x22],                   // overlong "/"
        [0x22, 0xE0, 0x80, 0xAF, 0x22],             // overlong 3-byte
        [0x22, 0xF0, 0x80, 0x80, 0xAF, 0x22],       // overlong 4-byte
        [0x22, 0xED, 0xA0, 0x80, 0x22],             // UTF-8-encoded surrogate U+D800
        [0x22, 0xF4, 0x90, 0x80, 0x80, 0x22],       // beyond U+10FFFF
        [0x22, 0xF8, 0x88, 0x80, 0x80, 0x80, 0x22], // 5-byte form
        [0x22, 0xE2, 0x82],                         // truncated at the end
        [0x7B, 0x22, 0xE9, 0x22, 0x3A, 0x31, 0x7D], // Latin-1 é in a key
        [0xC3, 0xA9],                               // non-ASCII outside a string
    ] as [[UInt8]])
    func refusesInvalidUTF8(_ bytes: [UInt8]) {
        #expect(validationFailure(bytes) != nil, "accepted \(bytes)")
    }

    @Test("accepts every UTF-8 sequence length at its boundaries", arguments: [
        [0xC2, 0x80], [0xC3, 0xA9], [0xDF, 0xBF],                   // 2 bytes
        [0xE0, 0xA0, 0x80], [0xE2, 0x82, 0xAC], [0xED, 0x9F, 0xBF], // 3 bytes, up to U+D7FF
        [0xEE, 0x80, 0x80], [0xEF, 0xBF, 0xBF],                     // 3 bytes, from U+E000
        [0xF0, 0x90, 0x80, 0x80], [0xF0, 0x9F, 0x98, 0x80],         // 4 bytes
        [0xF4, 0x8F, 0xBF, 0xBF],                                   // U+10FFFF
    ] as [[UInt8]])
    func acceptsUTF8(_ sequence: [UInt8]) {
        #expect(validationFailure([0x22] + sequence + [0x22]) == nil)
        #expect(validationFailure([0x22, 0x61] + sequence + sequence + [0x62, 0x22]) == nil)
    }

    // MARK: - Nesting

    static func nested(_ depth: Int, object: Bool) -> String {
        object
            ? String(repeating: "{\"a\":", count: depth - 1) + "{}" + String(repeating: "}", count: depth - 1)
            : String(repeating: "[", count: depth) + String(repeating: "]", count: depth)
    }

    @Test("accepts nesting up to maximumDepth and refuses one level more", arguments: [false, true])
    func nestingLimit(object: Bool) {
        let limit = JSONScanner.maximumDepth
        #expect(validationFailure(Self.nested(limit, object: object)) == nil)
        #expect(validationFailure(Self.nested(limit + 1, object: object))?.reason == "nesting too deep")
        if object {
            #expect((try? scanObject(Self.nested(limit, object: true)).get()) != nil)
            guard case .failure(let failure) = scanObject(Self.nested(limit + 1, object: true)) else {
                Issue.record("scanObject accepted nesting beyond the limit")
                return
            }
            #expect(failure.reason == "nesting too deep")
        }
    }

    @Test("refuses hostile nesting without exhausting the stack")
    func hostileNesting() {
        let deep = String(repeating: "[{\"a\":", count: 50_000)
        #expect(validationFailure(deep)?.reason == "nesting too deep")
        #expect(validationFailure(String(repeating: "[", count: 200_000))?.reason == "nesting too deep")
    }

    // MARK: - decodeString

    @Test("decodes string escapes", arguments: [
        (#""plain""#, "plain"),
        (#""""#, ""),
        (#""\"\\\/\b\f\n\r\t""#, "\"\\/\u{8}\u{C}\n\r\t"),
        (#""\u0041\u00e9\u00E9\u20ac""#, "A\u{E9}\u{E9}\u{20AC}"),
        (#""\ud83d\ude00 grin""#, "\u{1F600} grin"),
        (#""\uD83D\uDE00""#, "\u{1F600}"),
        (#""\u0000""#, "\u{0}"),
        (#""caf\u00e9 ☕""#, "caf\u{E9} \u{2615}"),
        (#""lone \ud800 high""#, "lone \u{FFFD} high"),
        (#""lone \udc00 low""#, "lone \u{FFFD} low"),
        (#""high then letter \ud800\u0041""#, "high then letter \u{FFFD}A"),
        (#""\\u0041""#, "\\u0041"),
    ])
    func decodesStrings(_ literal: String, _ expected: String) {
        let bytes = Array(literal.utf8)
        let decoded = bytes.withUnsafeBytes { JSONScanner.decodeString($0, 0..<bytes.count) }
        #expect(decoded == expected)
    }

    @Test("decodes a string in the middle of a document by its range")
    func decodesByRange() throws {
        let json = #"{"model":"gpt\u002d4o","x":1}"#
        let object = try scanObject(json).get()
        let model = try #require(object.member("model"))
        let bytes = Array(json.utf8)
        #expect(bytes.withUnsafeBytes { JSONScanner.decodeString($0, model.valueRange) } == "gpt-4o")
    }

    // MARK: - Differential check against Foundation

    /// Where Foundation's `JSONSerialization` and RFC 8259 part ways. The scanner follows the RFC.
    enum KnownDifference: Hashable {
        /// Foundation accepts trailing commas (`[1,]`, `{"a":1,}`); the RFC grammar does not.
        case foundationAcceptsTrailingComma
        /// Foundation skips a leading byte order mark; RFC 8259 section 8.1 forbids adding one.
        case foundationAcceptsByteOrderMark
        /// Foundation refuses `\uD800`-style lone surrogate escapes; the RFC grammar allows them.
        case foundationRefusesLoneSurrogate
        /// Foundation refuses numbers beyond Double's range (`1e400`); the RFC grammar allows them.
        case foundationRefusesHugeNumber
    }

    @Test("agrees with JSONSerialization on generated and mutated documents")
    func differential() {
        var generator = JSONGenerator(seed: 0x5A1C_E2026)
        var rng = SeededGenerator(seed: 42)
        var inputs: [[UInt8]] = []
        for _ in 0..<300 {
            let document = Array(generator.document().utf8)
            inputs.append(document)
            inputs.append(Mutator.mutate(document, times: 1, using: &rng))
            inputs.append(Mutator.mutate(document, times: Int.random(in: 2...4, using: &rng), using: &rng))
        }
        var accepted = 0
        var known: [KnownDifference: Int] = [:]
        var unexplained: [String] = []
        for input in inputs {
            let scanner = scannerAccepts(input)
            let foundation = (try? JSONSerialization.jsonObject(with: Data(input), options: [.fragmentsAllowed])) != nil
            if scanner { accepted += 1 }
            guard scanner != foundation else { continue }
            if let difference = Self.explain(input, scannerAccepted: scanner) {
                known[difference, default: 0] += 1
            } else {
                let text = String(decoding: input, as: UTF8.self).debugDescription
                unexplained.append("scanner \(scanner ? "accepts" : "refuses") but Foundation \(foundation ? "accepts" : "refuses"): \(text)")
            }
        }
        #expect(unexplained.isEmpty, "\(unexplained.prefix(10).joined(separator: "\n"))")
        // The inputs must exercise both outcomes for the comparison to mean anything.
        #expect(accepted > inputs.count / 4)
        #expect(inputs.count - accepted > inputs.count / 4)
        // The mutations add trailing commas on purpose: the explanation must have been used.
        #expect(known[.foundationAcceptsTrailingComma, default: 0] > 0)
    }

    @Test("the documented differences are real", arguments: [
        ("[1,]", KnownDifference.foundationAcceptsTrailingComma),
        ("{\"a\":[],}", .foundationAcceptsTrailingComma),
        ("\u{FEFF}{}", .foundationAcceptsByteOrderMark),
        ("\"\\ud800\"", .foundationRefusesLoneSurrogate),
        ("[1e400]", .foundationRefusesHugeNumber),
    ])
    func documentedDifferences(_ json: String, _ difference: KnownDifference) {
        let bytes = Array(json.utf8)
        let scanner = scannerAccepts(bytes)
        let foundation = (try? JSONSerialization.jsonObject(with: Data(bytes), options: [.fragmentsAllowed])) != nil
        #expect(scanner != foundation)
        #expect(Self.explain(bytes, scannerAccepted: scanner) == difference)
    }

    /// The known difference that accounts for a disagreement, if any.
    static func explain(_ input: [UInt8], scannerAccepted: Bool) -> KnownDifference? {
        if scannerAccepted {
            let text = String(decoding: input, as: UTF8.self).lowercased()
            if text.range(of: #"\\ud[89a-f][0-9a-f]{2}"#, options: .regularExpression) != nil {
                return .foundationRefusesLoneSurrogate
            }
            if numberTokens(input).contains(where: { (Double($0) ?? 0).isInfinite }) {
                return .foundationRefusesHugeNumber
            }
            return nil
        }
        if input.starts(with: [0xEF, 0xBB, 0xBF]), scannerAccepts(Array(input.dropFirst(3))) {
            return .foundationAcceptsByteOrderMark
        }
        if scannerAccepts(removingTrailingCommas(input)) {
            return .foundationAcceptsTrailingComma
        }
        return nil
    }

    /// `input` without commas that directly precede `]` or `}` (outside strings).
    static func removingTrailingCommas(_ input: [UInt8]) -> [UInt8] {
        var out: [UInt8] = []
        var inString = false
        var escaped = false
        var pendingComma: Int?
        for byte in input {
            if inString {
                out.append(byte)
                if escaped { escaped = false } else if byte == UInt8(ascii: "\\") { escaped = true } else if byte == UInt8(ascii: "\"") { inString = false }
                continue
            }
            switch byte {
            case UInt8(ascii: ","):
                pendingComma = out.count
                out.append(byte)
            case UInt8(ascii: "]"), UInt8(ascii: "}"):
                if let comma = pendingComma { out.remove(at: comma) }
                pendingComma = nil
                out.append(byte)
            case 0x20, 0x09, 0x0A, 0x0D:
                out.append(byte)
            default:
                pendingComma = nil
                if byte == UInt8(ascii: "\"") { inString = true }
                out.append(byte)
            }
        }
        return out
    }

    /// The number-like tokens outside strings.
    static func numberTokens(_ input: [UInt8]) -> [String] {
        var tokens: [String] = []
        var current: [UInt8] = []
        var inString = false
        var escaped = false
        for byte in input + [0x20] {
            if inString {
                if escaped { escaped = false } else if byte == UInt8(ascii: "\\") { escaped = true } else if byte == UInt8(ascii: "\"") { inString = false }
                continue
            }
            if (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(byte) || "+-.eE".utf8.contains(byte) {
                current.append(byte)
                continue
            }
            if !current.isEmpty { tokens.append(String(decoding: current, as: UTF8.self)) }
            current = []
            if byte == UInt8(ascii: "\"") { inString = true }
        }
        return tokens
    }
}

/// Random JSON documents: every value kind, escapes, non-ASCII text, odd whitespace.
struct JSONGenerator {
    var rng: SeededGenerator

    init(seed: UInt64) {
        rng = SeededGenerator(seed: seed)
    }

    mutating func document() -> String {
        let value = Bool.random(using: &rng) ? container(depth: 0) : value(depth: 0)
        return whitespace() + value + whitespace()
    }

    mutating func value(depth: Int) -> String {
        switch Int.random(in: 0..<(depth >= 4 ? 6 : 8), using: &rng) {
        case 0, 1: return string()
        case 2, 3: return number()
        case 4: return ["true", "false", "null"].randomElement(using: &rng)!
        case 5: return "\"\""
        default: return container(depth: depth)
        }
    }

    mutating func container(depth: Int) -> String {
        let count = Int.random(in: 0...4, using: &rng)
        if Bool.random(using: &rng) {
            let items = (0..<count).map { _ in whitespace() + value(depth: depth + 1) + whitespace() }
            return "[" + (items.isEmpty ? whitespace() : items.joined(separator: ",")) + "]"
        }
        let members = (0..<count).map { _ in
            whitespace() + string() + whitespace() + ":" + whitespace() + value(depth: depth + 1) + whitespace()
        }
        return "{" + (members.isEmpty ? whitespace() : members.joined(separator: ",")) + "}"
    }

    mutating func string() -> String {
        let pieces = [
            "model", "gpt-4o", "Hello, world", "caf\u{E9}", "\u{1F600}", "\u{65E5}\u{672C}", " ", "\u{7F}",
            "\\n", "\\\"", "\\\\", "\\/", "\\t", "\\b\\f\\r", "\\u00e9", "\\u20AC", "\\ud83d\\ude00", "\\u0000",
        ]
        let count = Int.random(in: 0...3, using: &rng)
        return "\"" + (0..<count).map { _ in pieces.randomElement(using: &rng)! }.joined() + "\""
    }

    mutating func number() -> String {
        var text = Bool.random(using: &rng) ? "" : "-"
        if Int.random(in: 0..<4, using: &rng) == 0 {
            text += "0"
        } else {
            text += String(Int.random(in: 1...9, using: &rng))
            for _ in 0..<Int.random(in: 0...5, using: &rng) { text += String(Int.random(in: 0...9, using: &rng)) }
        }
        if Bool.random(using: &rng) {
            text += "." + (0..<Int.random(in: 1...4, using: &rng)).map { _ in String(Int.random(in: 0...9, using: &rng)) }.joined()
        }
        if Int.random(in: 0..<3, using: &rng) == 0 {
            text += ["e", "E", "e+", "e-", "E-"].randomElement(using: &rng)! + String(Int.random(in: 0...99, using: &rng))
        }
        return text
    }

    mutating func whitespace() -> String {
        ["", "", "", " ", "\n", "\t", "\r\n", "  "].randomElement(using: &rng)!
    }
}

/// Small random edits that mostly break a document, sometimes in ways that keep it valid.
enum Mutator {
    /// Bytes worth inserting: structure, number parts, escapes, control and non-ASCII bytes.
    /// No NUL: Foundation takes NUL bytes near the start as a sign of UTF-16/32, which RFC
    /// 8259 no longer allows, so it would make a difference not worth tracking here.
    static let alphabet: [UInt8] = Array(",:[]{}\"\\0-+.eE u tnf/ 9x'".utf8) + [0x01, 0x09, 0x0A, 0x1F, 0x7F, 0x80, 0xBF, 0xC3, 0xE2, 0xED, 0xF4, 0xFF]

    static func mutate(_ input: [UInt8], times: Int, using rng: inout SeededGenerator) -> [UInt8] {
        var bytes = input
        for _ in 0..<times {
            let position = bytes.isEmpty ? 0 : Int.random(in: 0..<bytes.count, using: &rng)
            switch Int.random(in: 0..<7, using: &rng) {
            case 0 where !bytes.isEmpty:
                bytes.remove(at: position)
            case 1:
                bytes.insert(alphabet.randomElement(using: &rng)!, at: position)
            case 2 where !bytes.isEmpty:
                bytes[position] = alphabet.randomElement(using: &rng)!
            case 3 where !bytes.isEmpty:
                bytes.removeSubrange(position...)
            case 4 where bytes.count > 1:
                let end = min(bytes.count, position + Int.random(in: 1...6, using: &rng))
                bytes.insert(contentsOf: bytes[position..<end], at: position)
            case 5:
                // A trailing comma, which Foundation tolerates.
                let closers = bytes.indices.filter { bytes[$0] == UInt8(ascii: "]") || bytes[$0] == UInt8(ascii: "}") }
                if let closer = closers.randomElement(using: &rng) { bytes.insert(UInt8(ascii: ","), at: closer) }
            default:
                if bytes.count > 1 {
                    let other = Int.random(in: 0..<bytes.count, using: &rng)
                    bytes.swapAt(position, other)
                }
            }
        }
        return bytes
    }
}
