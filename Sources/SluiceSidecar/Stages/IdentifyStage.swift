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
        let headers = call.head.headers
        var attribution = defaults
        for header in IdentifyStage.textHeaders {
            guard let value = headers.first(name: header) else { continue }
            guard IdentifyStage.isAcceptable(value) else {
                return .reply(.error(.invalidRequest, "\(header) must be 1 to \(IdentifyStage.maxValueLength) visible ASCII characters", family: call.family, param: header))
            }
            switch header {
            case "x-sluice-tenant": attribution.tenant = value
            case "x-sluice-feature": attribution.feature = value
            case "x-sluice-user": attribution.user = value
            default: attribution.promptVersion = value
            }
        }
        if let priority = headers.first(name: "x-sluice-priority") {
            guard let parsed = Attribution.Priority(rawValue: priority.lowercased()) else {
                return .reply(.error(.invalidRequest, "x-sluice-priority must be interactive or batch", family: call.family, param: "x-sluice-priority"))
            }
            attribution.priority = parsed
        }
        call.attribution = attribution
        return .next
    }

    private static let textHeaders = ["x-sluice-tenant", "x-sluice-feature", "x-sluice-user", "x-sluice-prompt-version"]

    static func isAcceptable(_ value: String) -> Bool {
        let utf8 = value.utf8
        return !utf8.isEmpty && utf8.count <= maxValueLength && utf8.allSatisfy { $0 >= 0x20 && $0 < 0x7F && $0 != UInt8(ascii: "\"") && $0 != UInt8(ascii: "\\") }
    }
}
