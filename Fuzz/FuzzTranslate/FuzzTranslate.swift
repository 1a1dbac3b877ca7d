// libFuzzer target: translation between the OpenAI and Anthropic formats (requests,
// responses, error bodies, streams) on arbitrary bytes. Build and run with scripts/fuzz.
import NIOCore
import SluiceTranslate
import SluiceWire

/// Stops the run with `message` when `condition` fails (libFuzzer keeps the input).
private func require(_ condition: Bool, _ message: @autoclosure () -> String) {
    if !condition { fatalError("FuzzTranslate invariant: \(message())") }
}

/// The upstream model names a request translation may put in (bits 3-4 of the first byte).
private let upstreamModels = ["claude-sonnet-4-20250514", "gpt-4o", "m\"o\\d\u{1}e\nl \u{E9}\u{1F600}", ""]

/// The upstream statuses an error body may come with (bits 3-7 of the first byte).
private let statuses = [400, 401, 403, 404, 408, 409, 413, 422, 429, 500, 502, 503, 504, 529, 200, 0,
                        -1, 418, 451, 499, 501, 520, 599, 600, 999, 100, 204, 301, 402, 410, 415, Int.max]

/// Input: a selector byte, then the body or stream. Bits 0-2 pick the entry point and
/// direction (0/1 request OpenAI→Anthropic / Anthropic→OpenAI, 2/3 response Anthropic→OpenAI /
/// OpenAI→Anthropic, 4/5 error body OpenAI→Anthropic / Anthropic→OpenAI, 6/7 stream
/// Anthropic→OpenAI / OpenAI→Anthropic); the upper bits pick the upstream model (requests),
/// the status (error bodies) or whether an unfinished last event is translated too (streams).
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzTranslate(_ data: UnsafePointer<UInt8>?, _ size: Int) -> CInt {
    guard let data, size > 0 else { return 0 }
    let selector = data[0]
    let body = Array(UnsafeBufferPointer(start: data + 1, count: size - 1))
    let variant = Int(selector >> 3)
    switch selector & 7 {
    case 0: checkRequest(body, from: .openai, to: .anthropic, model: upstreamModels[variant % upstreamModels.count])
    case 1: checkRequest(body, from: .anthropic, to: .openai, model: upstreamModels[variant % upstreamModels.count])
    case 2: checkResponse(body, from: .anthropic, to: .openai)
    case 3: checkResponse(body, from: .openai, to: .anthropic)
    case 4: checkErrorBody(body, status: statuses[variant % statuses.count], from: .openai, to: .anthropic)
    case 5: checkErrorBody(body, status: statuses[variant % statuses.count], from: .anthropic, to: .openai)
    case 6: checkStream(body, from: .anthropic, to: .openai, translateRest: variant & 1 == 1)
    default: checkStream(body, from: .openai, to: .anthropic, translateRest: variant & 1 == 1)
    }
    return 0
}

// MARK: - Requests

/// A request either is refused with a TranslationError whose body is the client's error
/// shape, or becomes a JSON object carrying the upstream model and `messages` (and, for
/// Anthropic, `max_tokens`; for a streamed OpenAI request, `stream_options.include_usage`).
private func checkRequest(_ body: [UInt8], from client: APIFamily, to upstream: APIFamily, model: String) {
    let out: [UInt8]
    do {
        out = try Translation.request(body, from: client, to: upstream, upstreamModel: model)
    } catch {
        require(!error.message.isEmpty, "a TranslationError without a message")
        require(error.status == 400, "a TranslationError's status is \(error.status)")
        checkErrorShape(error.body(for: client), family: client, "the TranslationError body")
        return
    }
    let object = requireObject(out, "the translated request")
    requireString(out, object, "model", equals: model)
    require(object.member("messages")?.kind == .array, "the translated request has no `messages` array")
    if upstream == .anthropic {
        require(object.member("max_tokens")?.kind == .number, "the Anthropic request has no `max_tokens` number")
    }
    let scanned: RequestBody
    do {
        scanned = try RequestBody(scanning: ByteBuffer(bytes: out))
    } catch {
        fatalError("FuzzTranslate invariant: the translated request does not scan as a request body: \(error)\n\(String(decoding: out, as: UTF8.self))")
    }
    require(scanned.model == model, "RequestBody reads the model \(String(describing: scanned.model)), not \(model)")
    if upstream == .openai, scanned.stream {
        require(scanned.clientRequestedUsage, "a streamed OpenAI request without stream_options.include_usage")
    }
}

// MARK: - Responses and errors

/// A JSON object comes back as a JSON object (in the client's shape when it was rewritten);
/// anything else comes back either unchanged or as a JSON object.
private func checkResponse(_ body: [UInt8], from upstream: APIFamily, to client: APIFamily) {
    let out = Translation.response(body, from: upstream, to: client)
    let wasObject = body.withUnsafeBytes { (try? JSONScanner.scanObject($0)) != nil }
    if wasObject || out != body {
        let object = requireObject(out, "the translated response of \(wasObject ? "a JSON object" : "bytes that are not one")")
        guard out != body else { return }  // a body the translator could not read is passed on as it came
        switch client {
        case .openai:
            require(object.member("choices")?.kind == .array, "the OpenAI response has no `choices` array")
            requireString(out, object, "object", equals: "chat.completion")
        case .anthropic:
            require(object.member("content")?.kind == .array, "the Anthropic response has no `content` array")
            requireString(out, object, "type", equals: "message")
        }
    }
}

/// Any error body, JSON or not, becomes the client's error shape.
private func checkErrorBody(_ body: [UInt8], status: Int, from upstream: APIFamily, to client: APIFamily) {
    checkErrorShape(Translation.errorBody(body, status: status, from: upstream, to: client), family: client, "the translated error body")
}

/// OpenAI: `{"error":{"message":…,"type":…}}`; Anthropic: `{"type":"error","error":{"type":…,"message":…}}`.
private func checkErrorShape(_ out: [UInt8], family: APIFamily, _ what: String) {
    let object = requireObject(out, what)
    guard let error = object.member("error"), error.kind == .object else {
        fatalError("FuzzTranslate invariant: \(what) has no `error` object: \(String(decoding: out, as: UTF8.self))")
    }
    if family == .anthropic { requireString(out, object, "type", equals: "error") }
    out.withUnsafeBytes { bytes in
        guard let inner = try? JSONScanner.scanObject(bytes, in: error.valueRange) else {
            fatalError("FuzzTranslate invariant: \(what): `error` does not rescan")
        }
        require(inner.member("message")?.kind == .string, "\(what) has no `error.message` string")
        require(inner.member("type")?.kind == .string, "\(what) has no `error.type` string")
    }
}

// MARK: - Streams

/// The stream is split into SSE events as the proxy splits it; each is translated, and every
/// string that comes out must be one complete SSE event in the client's format.
private func checkStream(_ stream: [UInt8], from upstream: APIFamily, to client: APIFamily, translateRest: Bool) {
    var splitter = SSEEventSplitter()
    var events: [[UInt8]] = []
    _ = splitter.append(ByteBuffer(bytes: stream)) { events.append(Array($0.readableBytesView)) }
    if translateRest, let rest = splitter.takePartialEvent() { events.append(Array(rest.readableBytesView)) }
    var translator = StreamTranslator(from: upstream, to: client)
    for event in events {
        for out in translator.translate(event: event) {
            checkClientEvent(out, family: client)
        }
    }
}

/// One complete SSE event ending with its only blank line, `event:` and `data:` lines only,
/// at least one `data:` line, each `[DONE]` or JSON; Anthropic events are named after their
/// data's `type`, OpenAI ones are unnamed.
private func checkClientEvent(_ text: String, family: APIFamily) {
    let bytes = Array(text.utf8)
    require(text.hasSuffix("\n\n"), "a client event does not end with a blank line: \(text.debugDescription)")
    require(!bytes.contains(0x0D), "a client event holds a CR (a line break to an SSE reader): \(text.debugDescription)")
    let lines = bytes.dropLast(2).split(separator: 0x0A, omittingEmptySubsequences: false)
    var name: String?
    var payloads: [[UInt8]] = []
    for line in lines {
        require(!line.isEmpty, "a blank line inside a client event: \(text.debugDescription)")
        if line.starts(with: Array("data: ".utf8)) {
            payloads.append(Array(line.dropFirst(6)))
        } else if line.starts(with: Array("event: ".utf8)) {
            require(name == nil, "two event names: \(text.debugDescription)")
            name = String(decoding: line.dropFirst(7), as: UTF8.self)
        } else {
            fatalError("FuzzTranslate invariant: a client event line that is neither event: nor data:: \(text.debugDescription)")
        }
    }
    require(!payloads.isEmpty, "a client event without data: \(text.debugDescription)")
    for payload in payloads where payload != Array("[DONE]".utf8) {
        require(payload.withUnsafeBytes { (try? JSONScanner.validate($0)) != nil }, "a data line that is neither JSON nor [DONE]: \(text.debugDescription)")
    }
    switch family {
    case .openai:
        require(name == nil, "an OpenAI client event with a name: \(text.debugDescription)")
    case .anthropic:
        require(payloads.count == 1, "an Anthropic client event with \(payloads.count) data lines: \(text.debugDescription)")
        let object = requireObject(payloads[0], "an Anthropic event's data")
        guard let name else { fatalError("FuzzTranslate invariant: an Anthropic client event without a name: \(text.debugDescription)") }
        requireString(payloads[0], object, "type", equals: name)
    }
}

// MARK: - Helpers

/// The bytes scanned as one JSON object (SluiceWire's strict scanner), or a stop.
private func requireObject(_ bytes: [UInt8], _ what: @autoclosure () -> String) -> JSONScanner.Object {
    let scanned = bytes.withUnsafeBytes { raw in
        Result { () throws(JSONScanner.Failure) -> JSONScanner.Object in try JSONScanner.scanObject(raw) }
    }
    switch scanned {
    case .success(let object): return object
    case .failure(let failure):
        fatalError("FuzzTranslate invariant: \(what()) is not a JSON object (\(failure)): \(String(decoding: bytes, as: UTF8.self).debugDescription)")
    }
}

/// The object's member `key` is the string `expected`.
private func requireString(_ bytes: [UInt8], _ object: JSONScanner.Object, _ key: String, equals expected: String) {
    guard let member = object.member(key), member.kind == .string else {
        fatalError("FuzzTranslate invariant: no `\(key)` string in \(String(decoding: bytes, as: UTF8.self).debugDescription)")
    }
    let value = bytes.withUnsafeBytes { JSONScanner.decodeString($0, member.valueRange) }
    require(value == expected, "`\(key)` is \(value.debugDescription), not \(expected.debugDescription)")
}
