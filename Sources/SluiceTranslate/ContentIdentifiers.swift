// Content details both request directions share: image data URLs and tool call ids.

/// The parts of a `data:<media type>;base64,<data>` URL.
struct DataURL {
    var mediaType: String
    var data: String

    init?(_ url: String) {
        guard url.lowercased().hasPrefix("data:"), let comma = url.firstIndex(of: ",") else { return nil }
        let header = url[url.index(url.startIndex, offsetBy: 5)..<comma]
        let parameters = header.split(separator: ";").map(String.init)
        guard let last = parameters.last, last.lowercased() == "base64", parameters.count >= 2 else { return nil }
        mediaType = parameters[0]
        data = String(url[url.index(after: comma)...])
    }

    init(mediaType: String, data: String) {
        self.mediaType = mediaType
        self.data = data
    }

    var url: String { "data:\(mediaType);base64,\(data)" }
}

/// Tool call ids: Anthropic accepts only letters, digits, `_` and `-`.
enum ToolCallID {
    /// `id` with every other character replaced by `_` (the same id always maps the same way,
    /// so a call and its result still match).
    static func anthropic(_ id: String) -> String {
        let cleaned = String(id.unicodeScalars.map { scalar -> Character in
            let allowed = ("a"..."z").contains(scalar) || ("A"..."Z").contains(scalar) || ("0"..."9").contains(scalar)
                || scalar == "_" || scalar == "-"
            return allowed ? Character(scalar) : "_"
        })
        return cleaned.isEmpty ? "_" : cleaned
    }
}
