/// The policy as read from YAML, before validation: every value keeps its position, and
/// values that were missing or of the wrong type are `nil` (their diagnostics already reported).
struct PolicyDraft {
    var providers: [ProviderDraft] = []
    var models: [ModelDraft] = []
    var routes: [RouteDraft] = []
}

struct ProviderDraft {
    var name: Located<String>
    /// The provider's mapping (where a missing key is reported).
    var position: SourcePosition
    var kind: Located<String>?
    var baseURL: Located<String>?
    var credential: CredentialDraft?
    var caFile: Located<String>?
    /// Whether `api_version` was written, whatever its value.
    var hasAPIVersion = false
    var apiVersion: Located<String>?
    /// The `deployments:` mapping (its position and field) and its entries.
    var deployments: Located<[KeyValueDraft]>?
    var headers: [KeyValueDraft] = []
    var maxConnections: Located<Int>?
    var timeouts = TimeoutsDraft()
    var breaker = BreakerDraft()
}

struct CredentialDraft {
    /// The `credential:` mapping itself.
    var position: SourcePosition
    var field: String
    /// Which keys were written, whatever their values.
    var hasEnv = false
    var hasFile = false
    var env: Located<String>?
    var file: Located<String>?
}

struct ModelDraft {
    var name: Located<String>
    var provider: Located<String>?
    var upstreamModel: Located<String>?
    var input: Located<Double>?
    var output: Located<Double>?
    var cachedInput: Located<Double>?
    var aliases: [Located<String>] = []
}

struct RouteDraft {
    var name: Located<String>?
    var matchModel: Located<String>?
    var matchFeature: Located<String>?
    var matchPath: Located<String>?
    var targets: [TargetDraft] = []
    var fallbacks: [Located<String>] = []
    var timeouts = TimeoutsDraft()
    var retry = RetryDraft()
    var degrade: DegradeDraft?
    var fallbackReply: FallbackReplyDraft?
}

struct TargetDraft {
    var model: Located<String>?
    var weight: Located<Int>?
}

extension PolicyDraft {
    /// The typed policy. Meant for a draft that produced no diagnostics; anything incomplete
    /// is skipped rather than trapped on.
    func makePolicy() -> Policy {
        var policy = Policy()
        for draft in providers {
            guard let kindName = draft.kind?.value, let kind = ProviderKind(rawValue: kindName),
                  let baseURL = draft.baseURL?.value else { continue }
            var credential: CredentialSource?
            if let env = draft.credential?.env?.value {
                credential = .environment(env)
            } else if let file = draft.credential?.file?.value {
                credential = .file(file)
            }
            policy.providers[draft.name.value] = Provider(
                name: draft.name.value,
                kind: kind,
                baseURL: BaseURLCheck.normalized(baseURL),
                credential: credential,
                caFile: draft.caFile?.value,
                apiVersion: draft.apiVersion?.value,
                deployments: Self.dictionary(draft.deployments?.value ?? []),
                headers: Self.dictionary(draft.headers),
                maxConnections: draft.maxConnections?.value,
                timeouts: draft.timeouts.timeouts,
                breaker: draft.breaker.settings
            )
        }
        for draft in models {
            guard let provider = draft.provider?.value else { continue }
            policy.models[draft.name.value] = Model(
                name: draft.name.value,
                provider: provider,
                upstreamModel: draft.upstreamModel?.value,
                prices: Prices(
                    input: draft.input?.value ?? 0,
                    output: draft.output?.value ?? 0,
                    cachedInput: draft.cachedInput?.value
                ),
                aliases: draft.aliases.map(\.value)
            )
        }
        for draft in routes {
            guard let name = draft.name?.value else { continue }
            policy.routes.append(Route(
                name: name,
                match: RouteMatch(
                    model: draft.matchModel?.value,
                    feature: draft.matchFeature?.value,
                    path: draft.matchPath?.value
                ),
                targets: draft.targets.compactMap { target in
                    target.model.map { RouteTarget(model: $0.value, weight: target.weight?.value ?? 1) }
                },
                fallbacks: draft.fallbacks.map(\.value),
                timeouts: draft.timeouts.timeouts,
                retry: draft.retry.settings,
                degrade: draft.degrade?.rule,
                fallbackReply: draft.fallbackReply?.reply
            ))
        }
        return policy
    }

    /// The entries with a value, by key (the validator rejects repeated keys).
    private static func dictionary(_ entries: [KeyValueDraft]) -> [String: String] {
        var result: [String: String] = [:]
        for entry in entries {
            if let value = entry.value { result[entry.key.value] = value.value }
        }
        return result
    }
}
