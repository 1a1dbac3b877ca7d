// The JSON helper: order kept, numbers as written, escapes, and hostile input refused.
import Testing
@testable import SluiceTranslate

@Suite("JSON value")
struct JSONTests {
    @Test("Parse then serialize keeps member order and number text")
    func roundTrip() throws {
        let text = #"{"z":1,"a":[0.70,-2e5,true,false,null],"m":{"k":"v"},"e":{},"l":[]}"#
        #expect(try JSON.parse(text).serialized == text)
    }

    @Test("Escapes, surrogate pairs and control characters")
    func strings() throws {
        let parsed = try JSON.parse(#""a\"b\\c\/d\n\t\u00e9\ud83d\ude00\u0001""#)
        #expect(parsed == .string("a\"b\\c/d\n\té\u{1F600}\u{01}"))
        #expect(parsed.serialized == #""a\"b\\c/d\n\té😀\u0001""#)
        #expect(try JSON.parse(#""\ud800x""#) == .string("\u{FFFD}x"))
    }

    @Test("Malformed JSON is refused", arguments: [
        "", "{", "{\"a\"}", "{\"a\":}", "[1,]", "01x", "-", "1.", "1e", "tru", "\"abc", "\"\\x\"", "\"\u{01}\"",
        "{\"a\":1}x", "nul", "\"\\u12\"", String(repeating: "[", count: 500) + String(repeating: "]", count: 500),
    ])
    func malformed(text: String) {
        #expect(throws: JSON.ParseError.self) { try JSON.parse(text) }
    }

    @Test("Object members: lookup takes the last duplicate; setting nil removes")
    func objectAccess() throws {
        var object = try #require(try JSON.parse(#"{"a":1,"b":2,"a":3}"#).objectValue)
        #expect(object["a"] == 3)
        object["b"] = nil
        object["c"] = "x"
        #expect(JSON.object(object).serialized == #"{"a":1,"a":3,"c":"x"}"#)
        #expect(JSON.number("2.0").intValue == 2)
        #expect(JSON.number("2.5").intValue == nil)
        #expect(JSON.number("1e300").intValue == nil)
    }
}
