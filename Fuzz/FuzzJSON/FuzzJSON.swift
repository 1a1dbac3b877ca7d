// libFuzzer target: the JSON scanner, the request-body scan and its in-place rewrite, and
// usage parsing, on arbitrary bytes. Build and run with scripts/fuzz.
import NIOCore
import SluiceWire

/// The upstream model names a rewrite may put in (chosen by the input's first byte).
private let upstreamModels: [String?] = [nil, "gpt-4o", "m\"o\\d\u{1}e\nl \u{E9}\u{1F600}", ""]

/// Stops the run with `message` when `condition` fails (libFuzzer keeps the input).
private func require(_ condition: Bool, _ message: @autoclosure () -> String) {
    if !condition { fatalError("FuzzJSON invariant: \(message())") }
}

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzJSON(_ data: UnsafePointer<UInt8>?, _ size: Int) -> CInt {
    guard let data, size > 0 else { return 0 }
    let flags = data[0]
    let body = ByteBuffer(bytes: UnsafeRawBufferPointer(start: data + 1, count: size - 1))
    checkScanner(body)
    checkUsage(body)
    checkRequestBody(body, requestUsage: flags & 1 == 1, upstreamModel: upstreamModels[Int(flags >> 1) % upstreamModels.count], sameModel: flags & 0x40 != 0)
    return 0
}

/// validate and scanObject agree; every string decodes and re-quotes to itself.
private func checkScanner(_ body: ByteBuffer) {
    body.withUnsafeReadableBytes { bytes in
        let valid = (try? JSONScanner.validate(bytes)) != nil
        guard let object = try? JSONScanner.scanObject(bytes) else { return }
        require(valid, "scanObject accepted what validate refused")
        require(object.openBrace < object.closeBrace && object.closeBrace < bytes.count, "brace offsets")
        for member in object.members {
            require(member.keyRange.upperBound <= member.valueRange.lowerBound, "key before value")
            require(member.valueRange.upperBound <= object.closeBrace, "value inside the object")
            let value = UnsafeRawBufferPointer(rebasing: bytes[member.valueRange])
            require((try? JSONScanner.validate(value)) != nil, "a member's value is JSON on its own")
            if member.kind == .string { checkRoundTrip(JSONScanner.decodeString(bytes, member.valueRange)) }
            if member.kind == .object {
                require((try? JSONScanner.scanObject(bytes, in: member.valueRange)) != nil, "nested object rescans")
            }
        }
    }
}

/// A decoded string, quoted again, is one JSON string that decodes to itself.
private func checkRoundTrip(_ text: String) {
    let quoted = Array(JSONText.quoted(text).utf8)
    quoted.withUnsafeBytes { bytes in
        require((try? JSONScanner.validate(bytes)) != nil, "quoted string is JSON: \(quoted)")
        require(JSONScanner.decodeString(bytes, 0..<bytes.count) == text, "quoted string round trip")
    }
}

private func checkUsage(_ body: ByteBuffer) {
    body.withUnsafeReadableBytes { bytes in
        for family in [APIFamily.openai, .anthropic] {
            _ = UsageParser.usage(inResponseBody: bytes, family: family)
            _ = UsageParser.usage(inTail: bytes, family: family)
        }
    }
}

/// A body that scans is rewritten into one that scans again, with the new model, usage
/// asked for when requested, and every other member byte for byte as it was.
private func checkRequestBody(_ body: ByteBuffer, requestUsage: Bool, upstreamModel: String?, sameModel: Bool) {
    let parsed: RequestBody
    do {
        parsed = try RequestBody(scanning: body)
    } catch {
        if case .notJSON = error {
            body.withUnsafeReadableBytes { bytes in
                require((try? JSONScanner.validate(bytes)) == nil, "notJSON for valid JSON")
            }
        }
        return
    }
    let newModel = sameModel ? parsed.model : upstreamModel
    let out = parsed.rewritten(body, upstreamModel: newModel, requestUsage: requestUsage, allocator: ByteBufferAllocator())
    let modelChanges = newModel != nil && parsed.model != nil && newModel != parsed.model
    let usageChanges = requestUsage && !parsed.clientRequestedUsage
    guard modelChanges || usageChanges else {
        require(out == body, "a rewrite with nothing to change changed the body")
        return
    }
    let again: RequestBody
    do {
        again = try RequestBody(scanning: out)
    } catch {
        fatalError("FuzzJSON invariant: the rewritten body does not scan: \(error)\n\(String(buffer: out))")
    }
    require(again.model == (modelChanges ? newModel : parsed.model), "model after the rewrite")
    require(again.stream == parsed.stream, "stream after the rewrite")
    require(again.clientRequestedUsage == (requestUsage || parsed.clientRequestedUsage), "include_usage after the rewrite")
    checkOtherMembersKept(body, out)
}

private func checkOtherMembersKept(_ before: ByteBuffer, _ after: ByteBuffer) {
    before.withUnsafeReadableBytes { old in
        after.withUnsafeReadableBytes { new in
            guard let oldObject = try? JSONScanner.scanObject(old), let newObject = try? JSONScanner.scanObject(new) else {
                fatalError("FuzzJSON invariant: bodies do not scan")
            }
            let edited: Set<String> = ["model", "stream_options"]
            let oldKeys = oldObject.members.map(\.key)
            var newKeys = newObject.members.map(\.key)
            if !oldKeys.contains("stream_options"), newKeys.last == "stream_options" { newKeys.removeLast() }
            require(oldKeys == newKeys, "members after the rewrite: \(oldKeys) vs \(newKeys)")
            for (a, b) in zip(oldObject.members, newObject.members) where !edited.contains(a.key) {
                require(old[a.valueRange].elementsEqual(new[b.valueRange]), "member \(a.key) changed")
            }
        }
    }
}
