import NIOCore
import NIOHTTP1
import SluiceWire

/// Route: picks the route whose `match` fits (first in file order), then a weighted
/// target — passing over targets whose circuit breaker is open while another is healthy
/// (outlier ejection); with no matching route, the model the client named (by name or
/// alias). A target may speak the other vendor's API: the upstream call translates. The
/// request for the chosen target (model rewrite, usage option, credential) is built per
/// attempt by ``UpstreamRequest``.
public struct RouteStage: CallStage {
    public let name = "route"
    /// Routes without an explicit route are reported as this route name.
    public static let directRouteName = "direct"

    public init() {}

    public func enter(_ call: Call) -> StageDecision {
        guard let endpoint = call.endpoint, endpoint.isRouted, let request = call.request, let requested = request.model else {
            return .next
        }
        let snapshot = call.snapshot
        let path = Endpoint.pathWithoutQuery(call.head.uri)
        let chosen: ResolvedModel
        if let route = snapshot.routes.first(where: { RouteStage.matches($0, model: requested, feature: call.attribution.feature, path: path) }) {
            call.routeName = route.name
            call.route = route
            guard let target = RouteStage.pick(route, randomBits: call.randomBits, now: monotonicMilliseconds()) else {
                return .reply(.error(.invalidRequest, "route \(route.name) has no target", family: call.family, param: "model"))
            }
            chosen = target
        } else if let model = snapshot.modelsByClientName[requested] {
            call.routeName = RouteStage.directRouteName
            chosen = model
        } else {
            let known = snapshot.policy.clientModelNames.prefix(20).joined(separator: ", ")
            return .reply(.error(.invalidRequest, "unknown model \(requested.prefix(200)); this sidecar serves: \(known)", family: call.family, param: "model"))
        }
        call.target = chosen
        return .next
    }

    public func decorate(_ call: Call, headers: inout HTTPHeaders, trailers: Bool) {
        guard !trailers else { return }
        if let route = call.routeName { headers.add(name: "x-sluice-route", value: route) }
        if let target = call.target {
            headers.add(name: "x-sluice-provider", value: target.provider.name)
            headers.add(name: "x-sluice-model", value: target.name)
        }
    }

    static func matches(_ route: CompiledRoute, model: String, feature: String, path: Substring) -> Bool {
        if let wanted = route.match.model, wanted != model { return false }
        if let wanted = route.match.feature, wanted != feature { return false }
        if let wanted = route.match.path, wanted[...] != path { return false }
        return true
    }

    /// A target by weight, among those whose breaker would admit a call when there is
    /// one (else among all: the attempt loop then fails over or reports no healthy
    /// upstream); nil for a route without targets.
    static func pick(_ route: CompiledRoute, randomBits: UInt64, now: UInt64) -> ResolvedModel? {
        guard route.targets.count > 1 else { return route.targets.first }
        var healthy = route.targets.indices.filter { route.targets[$0].health.wouldAdmit(now: now) }
        if healthy.isEmpty { healthy = Array(route.targets.indices) }
        let total = healthy.reduce(0) { $0 + route.weights[$1] }
        guard total > 0 else { return nil }
        var roll = Int(randomBits % UInt64(total))
        for index in healthy {
            if roll < route.weights[index] { return route.targets[index] }
            roll -= route.weights[index]
        }
        return nil
    }
}
