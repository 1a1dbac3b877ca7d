import NIOHTTP1
import SluiceWire

/// Identify: who the call is for, from `x-sluice-tenant`, `-feature`, `-user`,
/// `-prompt-version` and `-priority`, with the pod's defaults where a header is absent.
public struct IdentifyStage: CallStage {
    public let name = "identify"
    /// Values used when the app sends no attribution header.
    public let defaults: Attribution
    /// Longest attribution value accepted.
    public static let maxValueLength = 128

    public init(defaults: Attribution) {
        self.defaults = defaults
    }

    public func enter(_ call: Call) -> StageDecision {
        var attribution = defaults
        var seen = Set<String>() // the first of repeated headers counts, as before
        // One pass over the headers; only `x-sluice-*` names are looked at twice.
        for (name, value) in call.head.headers where IdentifyStage.hasSluicePrefix(name) {
            let header = HeaderPolicy.lowercased(name)
            guard seen.insert(header).inserted else { continue }
            if header == "x-sluice-priority" {
                guard let parsed = Attribution.Priority(rawValue: value.lowercased()) else {
                    return .reply(.error(.invalidRequest, "x-sluice-priority must be interactive or batch", family: call.family, param: "x-sluice-priority"))
                }
                attribution.priority = parsed
                continue
            }
            guard IdentifyStage.textHeaders.contains(header) else { continue }
            guard IdentifyStage.isAcceptable(value) else {
                return .reply(.error(.invalidRequest, "\(header) must be 1 to \(IdentifyStage.maxValueLength) printable ASCII characters, without quotes or backslashes", family: call.family, param: header))
            }
            switch header {
            case "x-sluice-tenant": attribution.tenant = value
            case "x-sluice-feature": attribution.feature = value
            case "x-sluice-user": attribution.user = value
            default: attribution.promptVersion = value
            }
        }
        call.attribution = attribution
        return .next
    }

    /// Whether `name` starts with `x-sluice-` in any case, without allocating.
    static func hasSluicePrefix(_ name: String) -> Bool {
        var utf8 = name.utf8.makeIterator()
        for expected in "x-sluice-".utf8 {
            guard let byte = utf8.next() else { return false }
            let lower = (UInt8(ascii: "A")...UInt8(ascii: "Z")).contains(byte) ? byte | 0x20 : byte
            guard lower == expected else { return false }
        }
        return true
    }

    private static let textHeaders = ["x-sluice-tenant", "x-sluice-feature", "x-sluice-user", "x-sluice-prompt-version"]

    static func isAcceptable(_ value: String) -> Bool {
        let utf8 = value.utf8
        return !utf8.isEmpty && utf8.count <= maxValueLength && utf8.allSatisfy { $0 >= 0x20 && $0 < 0x7F && $0 != UInt8(ascii: "\"") && $0 != UInt8(ascii: "\\") }
    }
}
