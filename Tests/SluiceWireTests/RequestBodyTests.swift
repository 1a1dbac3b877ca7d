// RequestBody: what is read from a client's body and the in-place edits made before forwarding.
import Foundation
import NIOCore
import Testing
@testable import SluiceWire

@Suite("RequestBody")
struct RequestBodyTests {
    static let chatRequest = """
        {"model":"gpt-4o","messages":[{"role":"system","content":"You are terse."},{"role":"user","content":"Say \\"hi\\" in French."}],"temperature":0.2,"stream":true}
        """

    static let anthropicRequest = """
        {
          "model": "claude-sonnet-4-20250514",
          "max_tokens": 1024,
          "system": [{"type": "text", "text": "You are terse.", "cache_control": {"type": "ephemeral"}}],
          "messages": [
            {"role": "user", "content": "Hello, Claude"}
          ],
          "stream": true
        }

        """

    static func scan(_ body: String) throws(RequestBody.Problem) -> RequestBody {
        try RequestBody(scanning: buffer(body))
    }

    /// The body rewritten, as text.
    static func rewrite(_ body: String, upstreamModel: String? = nil, requestUsage: Bool) throws -> String {
        let request = try scan(body)
        let original = buffer(body)
        return request.rewritten(original, upstreamModel: upstreamModel, requestUsage: requestUsage, allocator: ByteBufferAllocator()).text
    }

    /// `text` parsed by Foundation as a top-level object.
    static func parse(_ text: String) throws -> [String: Any] {
        let value = try JSONSerialization.jsonObject(with: Data(text.utf8))
        return try #require(value as? [String: Any])
    }

    /// A canonical serialisation of a parsed value, to compare parsed documents.
    static func canonical(_ value: Any) throws -> String {
        String(decoding: try JSONSerialization.data(withJSONObject: value, options: [.sortedKeys, .fragmentsAllowed]), as: UTF8.self)
    }

    // MARK: - Scanning

    @Test("reads model, stream and the client's usage option", arguments: [
        (chatRequest, "gpt-4o", true, false),
        (anthropicRequest, "claude-sonnet-4-20250514", true, false),
        (#"{"model":"gpt-4o","messages":[]}"#, "gpt-4o", false, false),
        (#"{"model":"gpt-4o","stream":false}"#, "gpt-4o", false, false),
        (#"{"model":"gpt-4o","stream":"true"}"#, "gpt-4o", false, false),
        (#"{"model":"gpt-4o","stream":1}"#, "gpt-4o", false, false),
        (#"{"model":"gpt-4o","stream":true,"stream_options":{"include_usage":true}}"#, "gpt-4o", true, true),
        (#"{"model":"gpt-4o","stream":true,"stream_options":{"include_usage":false}}"#, "gpt-4o", true, false),
        (#"{"model":"gpt-4o","stream":true,"stream_options":{"include_usage":"true"}}"#, "gpt-4o", true, false),
        (#"{"model":"gpt-4o","stream":true,"stream_options":null}"#, "gpt-4o", true, false),
        (#"{"model":"gpt-4o","stream":true,"stream_options":{}}"#, "gpt-4o", true, false),
        (#"{"mod\u0065l":"gpt\u002d4o","str\u0065am":true}"#, "gpt-4o", true, false),
        (#"{"model":"caf\u00e9 \ud83d\ude00"}"#, "caf\u{E9} \u{1F600}", false, false),
        (#"{"model":""}"#, "", false, false),
    ])
    func scansFields(_ body: String, _ model: String, _ stream: Bool, _ clientRequestedUsage: Bool) throws {
        let request = try Self.scan(body)
        #expect(request.model == model)
        #expect(request.stream == stream)
        #expect(request.clientRequestedUsage == clientRequestedUsage)
    }

    @Test("only top-level members count")
    func nestedMembersIgnored() throws {
        let body = #"{"messages":[{"role":"user","content":"{\"model\":\"x\",\"stream\":true}"}],"metadata":{"model":"inner","stream":true},"input":{"stream_options":{"include_usage":true}}}"#
        let request = try Self.scan(body)
        #expect(request.model == nil)
        #expect(request.stream == false)
        #expect(request.clientRequestedUsage == false)
    }

    @Test("a model that is not a string is refused", arguments: [
        #"{"model":42}"#, #"{"model":null}"#, #"{"model":["gpt-4o"]}"#, #"{"model":{"name":"gpt-4o"}}"#,
        #"{"model":true}"#
    ])
    func modelNotAString(_ body: String) {
        #expect(throws: RequestBody.Problem.modelNotAString) { try Self.scan(body) }
    }

    @Test("valid JSON that is not an object is refused", arguments: [
        "[]", #"[{"model":"gpt-4o"}]"#, #""gpt-4o""#, "42", "true", "null", " \n [1] \n",
    ])
    func notAnObject(_ body: String) {
        #expect(throws: RequestBody.Problem.notAnObject) { try Self.scan(body) }
    }

    @Test("bodies that are not JSON are refused", arguments: [
        "", "   ", "{", "not json", #"{"model":"gpt-4o",}"#, "[1,", #""unterminated"#, #"{"model":"gpt-4o"} {}"#,
        "model=gpt-4o&stream=true", "\u{FEFF}{}", #"{"model":'gpt-4o'}"#, "[1,]",
    ])
    func notJSON(_ body: String) {
        do {
            _ = try Self.scan(body)
            Issue.record("accepted \(body.debugDescription)")
        } catch {
            guard case .notJSON = error else {
                Issue.record("\(body.debugDescription): \(error), expected notJSON")
                return
            }
        }
    }

    @Test("a body that is not UTF-8 is not JSON")
    func notUTF8() {
        // {"model":"caf\xE9"}: Latin-1, as a misconfigured client might send it.
        let body = ByteBuffer(bytes: Array(#"{"model":"caf"#.utf8) + [0xE9] + Array(#""}"#.utf8))
        #expect(throws: RequestBody.Problem.self) { try RequestBody(scanning: body) }
        do {
            _ = try RequestBody(scanning: body)
        } catch {
            guard case .notJSON(let failure) = error else {
                Issue.record("\(error), expected notJSON")
                return
            }
            #expect(failure.offset == 13)
        }
    }

    @Test("reads the readable bytes of a buffer that was partly consumed")
    func readerIndexRespected() throws {
        var body = ByteBuffer(string: "GARBAGE" + #"{"model":"gpt-4o","stream":true}"#)
        body.moveReaderIndex(forwardBy: 7)
        let request = try RequestBody(scanning: body)
        #expect(request.model == "gpt-4o")
        let out = request.rewritten(body, upstreamModel: "gpt-4o-2024-08-06", requestUsage: true, allocator: ByteBufferAllocator())
        #expect(out.text == #"{"model":"gpt-4o-2024-08-06","stream":true,"stream_options":{"include_usage":true}}"#)
    }

    // MARK: - Rewriting the model

    @Test("replaces only the model's value", arguments: [
        "gpt-4o-2024-08-06", "my \"quoted\" model", "back\\slash", "line\nbreak\ttab", "\u{FC}n\u{EF}c\u{F6}d\u{E9}-\u{6A21}\u{578B}",
        "ctrl\u{1}\u{1F}", "emoji \u{1F600}", "",
    ])
    func replacesModel(_ upstream: String) throws {
        for body in [Self.chatRequest, Self.anthropicRequest] {
            let request = try Self.scan(body)
            let out = try Self.rewrite(body, upstreamModel: upstream, requestUsage: false)
            let original = request.model!
            // Everything but the model literal is byte-for-byte the same.
            let literal = JSONText.quoted(original)
            let cut = try #require(body.range(of: literal))
            let expected = body[..<cut.lowerBound] + JSONText.quoted(upstream) + body[cut.upperBound...]
            #expect(out == expected)
            var parsed = try Self.parse(out)
            #expect(parsed["model"] as? String == upstream)
            var before = try Self.parse(body)
            parsed["model"] = nil
            before["model"] = nil
            #expect(try Self.canonical(parsed) == Self.canonical(before))
        }
    }

    @Test("replaces an escaped model literal whole")
    func replacesEscapedModel() throws {
        let body = #"{"model":"gpt\u002d4o","messages":[]}"#
        #expect(try Self.rewrite(body, upstreamModel: "gpt-4o-mini", requestUsage: false) == #"{"model":"gpt-4o-mini","messages":[]}"#)
        // The decoded name is already the upstream name: nothing to do.
        #expect(try Self.rewrite(body, upstreamModel: "gpt-4o", requestUsage: false) == body)
    }

    @Test("members that steer routing must not repeat", arguments: [
        (#"{"model":"a","model":"b"}"#, "model"),
        (#"{"model":"gpt-4o","model":1}"#, "model"),
        (#"{"model":"a","stream":true,"stream":false}"#, "stream"),
        (#"{"model":"a","stream_options":{},"stream_options":null}"#, "stream_options"),
        (#"{"stream":true,"stream_options":{"include_usage":true,"include_usage":false}}"#, "stream_options.include_usage"),
    ])
    func duplicatesAreRefused(body: String, key: String) {
        // Parsers disagree on which duplicate wins; routing on one while the provider reads
        // the other would serve or price the wrong thing.
        #expect(throws: RequestBody.Problem.duplicateMember(key)) { try Self.scan(body) }
    }

    @Test("other members may repeat")
    func otherDuplicatesPass() throws {
        let request = try Self.scan(#"{"model":"a","temperature":1,"temperature":0}"#)
        #expect(request.model == "a")
    }

    @Test("returns the same buffer when nothing changes")
    func unchangedIsSameBuffer() throws {
        for (body, upstream, usage) in [
            (Self.chatRequest, "gpt-4o", false),
            (Self.chatRequest, nil, false),
            (#"{"model":"gpt-4o","stream":true,"stream_options":{"include_usage":true}}"#, "gpt-4o", true),
            (#"{"model":"gpt-4o","stream":true,"stream_options":{"include_usage":true}}"#, nil, true),
            (#"{"messages":[]}"#, "gpt-4o", false),
        ] as [(String, String?, Bool)] {
            let original = buffer(body)
            let request = try RequestBody(scanning: original)
            let out = request.rewritten(original, upstreamModel: upstream, requestUsage: usage, allocator: ByteBufferAllocator())
            #expect(out == original)
            let sameStorage = original.withUnsafeReadableBytes { a in out.withUnsafeReadableBytes { b in a.baseAddress == b.baseAddress } }
            #expect(sameStorage, "copied \(body)")
        }
    }

    @Test("a body without a model gets no model")
    func noModelNoInsert() throws {
        let body = #"{"input":"text"}"#
        #expect(try Self.rewrite(body, upstreamModel: "text-embedding-3-small", requestUsage: false) == body)
    }

    // MARK: - Forcing include_usage

    @Test("forces stream_options.include_usage on", arguments: [
        // No stream_options at all.
        (#"{"model":"gpt-4o","stream":true}"#,
         #"{"model":"gpt-4o","stream":true,"stream_options":{"include_usage":true}}"#),
        (#"{}"#, #"{"stream_options":{"include_usage":true}}"#),
        (#"{ }"#, #"{ "stream_options":{"include_usage":true}}"#),
        ("{\n  \"model\": \"gpt-4o\",\n  \"stream\": true\n}\n",
         "{\n  \"model\": \"gpt-4o\",\n  \"stream\": true\n,\"stream_options\":{\"include_usage\":true}}\n"),
        // An empty object.
        (#"{"model":"gpt-4o","stream":true,"stream_options":{}}"#,
         #"{"model":"gpt-4o","stream":true,"stream_options":{"include_usage":true}}"#),
        (#"{"stream_options":{ },"model":"gpt-4o","stream":true}"#,
         #"{"stream_options":{"include_usage":true },"model":"gpt-4o","stream":true}"#),
        // Other options kept.
        (#"{"model":"gpt-4o","stream":true,"stream_options":{"continuous_usage_stats":true}}"#,
         #"{"model":"gpt-4o","stream":true,"stream_options":{"include_usage":true,"continuous_usage_stats":true}}"#),
        (#"{"stream_options":{ "a" : 1 , "b":[{}] },"stream":true}"#,
         #"{"stream_options":{"include_usage":true, "a" : 1 , "b":[{}] },"stream":true}"#),
        // The client said no, or said something that is not true.
        (#"{"model":"gpt-4o","stream":true,"stream_options":{"include_usage":false}}"#,
         #"{"model":"gpt-4o","stream":true,"stream_options":{"include_usage":true}}"#),
        (#"{"stream":true,"stream_options":{"x":1,"include_usage":null,"y":2}}"#,
         #"{"stream":true,"stream_options":{"x":1,"include_usage":true,"y":2}}"#),
        // stream_options null or another kind: replaced.
        (#"{"model":"gpt-4o","stream":true,"stream_options":null}"#,
         #"{"model":"gpt-4o","stream":true,"stream_options":{"include_usage":true}}"#),
        (#"{"stream_options":[],"stream":true}"#, #"{"stream_options":{"include_usage":true},"stream":true}"#),
        (#"{"stream_options":"yes","stream":true}"#, #"{"stream_options":{"include_usage":true},"stream":true}"#),
    ])
    func forcesIncludeUsage(_ body: String, _ expected: String) throws {
        let out = try Self.rewrite(body, requestUsage: true)
        #expect(out == expected)
        let parsed = try Self.parse(out)
        let options = try #require(parsed["stream_options"] as? [String: Any])
        #expect(options["include_usage"] as? Bool == true)
        // The rewritten body now reads as a client that asked for usage.
        #expect(try Self.scan(out).clientRequestedUsage)
    }

    @Test("leaves a body alone when the client already asked for usage", arguments: [
        #"{"model":"gpt-4o","stream":true,"stream_options":{"include_usage":true}}"#,
        #"{"stream_options":{"continuous_usage_stats":true,"include_usage":true},"model":"gpt-4o","stream":true}"#,
        "{\n  \"stream_options\" : { \"include_usage\" : true }\n}",
    ])
    func clientAlreadyAsked(_ body: String) throws {
        #expect(try Self.scan(body).clientRequestedUsage)
        #expect(try Self.rewrite(body, requestUsage: true) == body)
    }

    @Test("rewrites model and usage option together, wherever they are")
    func bothEdits() throws {
        let body = #"{"stream_options":{"include_usage":false},"messages":[{"role":"user","content":"hi"}],"model":"fast","stream":true}"#
        let out = try Self.rewrite(body, upstreamModel: "gpt-4o-mini-2024-07-18", requestUsage: true)
        #expect(out == #"{"stream_options":{"include_usage":true},"messages":[{"role":"user","content":"hi"}],"model":"gpt-4o-mini-2024-07-18","stream":true}"#)
        let body2 = #"{"model":"fast","stream":true}"#
        #expect(try Self.rewrite(body2, upstreamModel: "gpt-4o", requestUsage: true) == #"{"model":"gpt-4o","stream":true,"stream_options":{"include_usage":true}}"#)
    }

    @Test("every rewrite parses and carries the expected values")
    func rewritesAlwaysParse() throws {
        let bodies = [
            Self.chatRequest, Self.anthropicRequest, "{}", " {\n}\n", #"{"model":"m"}"#,
            #"{"model":"m","stream":true,"stream_options":{}}"#,
            #"{"model":"m","stream":true,"stream_options":null}"#,
            #"{"model":"m","stream":true,"stream_options":{"include_usage":false,"other":{"deep":[1,2,{"x":null}]}}}"#,
            #"{"stream_options":{"other":1},"model":"m"}"#,
            "{\"messages\":[],\"model\":\"m\"\r\n}",
            #"{"model":"m\"q\"","n":-1.5e-3,"s":"\u00e9\n","stream":true}"#,
        ]
        let upstreams: [String?] = [nil, "m", "gpt-4o", "with \"quotes\" and \\ and\nnewline", "\u{1F600}"]
        for body in bodies {
            let before = try Self.parse(body)
            let request = try Self.scan(body)
            for upstream in upstreams {
                for usage in [false, true] {
                    let out = try Self.rewrite(body, upstreamModel: upstream, requestUsage: usage)
                    var parsed = try Self.parse(out)
                    if request.model != nil {
                        #expect(parsed["model"] as? String == (upstream ?? request.model))
                    } else {
                        #expect(parsed["model"] == nil)
                    }
                    if usage {
                        let options = try #require(parsed["stream_options"] as? [String: Any])
                        #expect(options["include_usage"] as? Bool == true)
                        // Other options survive.
                        var expectedOptions = (before["stream_options"] as? [String: Any]) ?? [:]
                        expectedOptions["include_usage"] = true
                        #expect(try Self.canonical(options) == Self.canonical(expectedOptions))
                    }
                    // Every other member is untouched.
                    var rest = before
                    for key in ["model", "stream_options"] {
                        parsed[key] = nil
                        rest[key] = nil
                    }
                    #expect(try Self.canonical(parsed) == Self.canonical(rest))
                }
            }
        }
    }

    // MARK: - JSONText.quoted

    @Test("JSONText.quoted escapes what JSON requires", arguments: [
        ("gpt-4o", #""gpt-4o""#),
        ("", #""""#),
        ("say \"hi\"", #""say \"hi\"""#),
        ("a\\b", #""a\\b""#),
        ("l1\nl2\r\n\tx", #""l1\nl2\r\n\tx""#),
        ("\u{0}\u{1}\u{8}\u{C}\u{1F}", #""\u0000\u0001\u0008\u000c\u001f""#),
        ("caf\u{E9} \u{1F600} /", "\"caf\u{E9} \u{1F600} /\""),
        ("\u{7F}\u{2028}", "\"\u{7F}\u{2028}\""),
    ])
    func quoted(_ value: String, _ expected: String) throws {
        let quoted = JSONText.quoted(value)
        #expect(quoted == expected)
        #expect(scannerAccepts(quoted))
        let parsed = try JSONSerialization.jsonObject(with: Data(quoted.utf8), options: [.fragmentsAllowed])
        #expect(parsed as? String == value)
        let bytes = Array(quoted.utf8)
        #expect(bytes.withUnsafeBytes { JSONScanner.decodeString($0, 0..<bytes.count) } == value)
    }
}
