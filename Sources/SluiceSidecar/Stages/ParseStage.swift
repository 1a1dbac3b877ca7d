import SluiceWire

/// Parse: which endpoint, and what the JSON body says (model, stream).
///
/// Unknown paths get 404 and wrong methods 405, both in the caller's API shape; a body
/// that is not a JSON object, or lacks a string `model`, gets 400 `invalid_request`.
public struct ParseStage: CallStage {
    public let name = "parse"

    public init() {}

    public func enter(_ call: Call) -> StageDecision {
        let path = call.head.uri
        switch Endpoint.resolve(method: call.head.method.rawValue, path: path) {
        case .notFound:
            let bare = Endpoint.pathWithoutQuery(path)
            return .reply(.error(.notFound, "Sluice serves no endpoint at \(call.head.method.rawValue) \(bare.prefix(200))", family: call.family))
        case .methodNotAllowed(let allowed):
            return .reply(.error(.methodNotAllowed, "\(Endpoint.pathWithoutQuery(path)) accepts \(allowed) only", family: call.family, headers: [("allow", allowed)]))
        case .endpoint(let endpoint):
            call.endpoint = endpoint
            call.family = endpoint.family
            guard endpoint.isRouted else { return .next }
            let request: RequestBody
            do {
                request = try RequestBody(scanning: call.body)
            } catch {
                return .reply(.error(.invalidRequest, ParseStage.describe(error, empty: call.body.readableBytes == 0), family: call.family, param: error == .modelNotAString ? "model" : nil))
            }
            guard let model = request.model, !model.isEmpty else {
                return .reply(.error(.invalidRequest, "the request body needs a \"model\"", family: call.family, param: "model"))
            }
            _ = model
            call.request = request
            return .next
        }
    }

    static func describe(_ problem: RequestBody.Problem, empty: Bool) -> String {
        if empty { return "the request body is empty; send a JSON object" }
        switch problem {
        case .notJSON(let failure): return "the request body is not valid JSON: \(failure)"
        case .notAnObject: return "the request body must be a JSON object"
        case .modelNotAString: return "\"model\" must be a string"
        case .duplicateMember(let key): return "\"\(key)\" appears more than once; send it once"
        }
    }
}
