/// Checks the values and cross-references of a decoded ``PolicyDraft``: provider kinds,
/// base URLs, credentials, prices, weights, match paths, references to providers and models,
/// alias clashes and route name clashes. Provider settings (Azure, headers, breaker) and
/// route resilience (retry, degrade, fallbacks) are checked in the extensions beside it.
enum PolicyValidator {
    static func validate(_ draft: PolicyDraft, into diagnostics: inout DiagnosticCollector) {
        let providerNames = Set(draft.providers.map(\.name.value))
        let modelNames = Set(draft.models.map(\.name.value))
        for provider in draft.providers {
            validate(provider, into: &diagnostics)
        }
        for model in draft.models {
            validate(model, providers: providerNames, into: &diagnostics)
        }
        for provider in draft.providers {
            validateSettings(of: provider, models: draft.models, into: &diagnostics)
        }
        let aliasOwners = checkAliases(of: draft.models, modelNames: modelNames, into: &diagnostics)
        let models = ModelNames(names: modelNames, aliasOwners: aliasOwners)
        checkRouteNames(draft.routes, into: &diagnostics)
        for route in draft.routes {
            validate(route, models: models, into: &diagnostics)
        }
    }

    // MARK: Providers

    private static func validate(_ provider: ProviderDraft, into diagnostics: inout DiagnosticCollector) {
        if let kind = provider.kind, ProviderKind(rawValue: kind.value) == nil {
            let allowed = ProviderKind.allCases.map(\.rawValue)
            let hint = Suggestions.closest(to: kind.value, in: allowed).map { "; did you mean \"\($0)\"?" }
                ?? "; expected one of: \(allowed.joined(separator: ", "))"
            diagnostics.report("invalid value \"\(kind.value)\"\(hint)", about: kind)
        }
        if let baseURL = provider.baseURL, let problem = BaseURLCheck.problem(with: baseURL.value) {
            diagnostics.report("invalid URL \"\(baseURL.value)\": \(problem)", about: baseURL)
        }
        if let credential = provider.credential {
            switch (credential.hasEnv, credential.hasFile) {
            case (true, true):
                diagnostics.report(
                    "set only one of \"env\" or \"file\", not both",
                    at: credential.position, field: credential.field
                )
            case (false, false):
                diagnostics.report(
                    "must set one of \"env\" or \"file\"", at: credential.position, field: credential.field
                )
            default:
                break
            }
        }
    }

    // MARK: Models

    private static func validate(
        _ model: ModelDraft, providers: Set<String>, into diagnostics: inout DiagnosticCollector
    ) {
        if let provider = model.provider, !providers.contains(provider.value) {
            let hint = Suggestions.closest(to: provider.value, in: providers).map { "; did you mean \"\($0)\"?" }
                ?? (providers.isEmpty ? "" : "; defined providers: \(providers.sorted().joined(separator: ", "))")
            diagnostics.report("undefined provider \"\(provider.value)\"\(hint)", about: provider)
        }
        for price in [model.input, model.output, model.cachedInput].compactMap({ $0 }) {
            if !price.value.isFinite {
                diagnostics.report("must be a finite number", about: price)
            } else if price.value < 0 {
                diagnostics.report("must be >= 0, got \(format(price.value))", about: price)
            }
        }
    }

    /// Reports aliases that clash with a model name, with another model's alias, or repeat in
    /// one list. Returns each alias's (first) owning model.
    private static func checkAliases(
        of models: [ModelDraft], modelNames: Set<String>, into diagnostics: inout DiagnosticCollector
    ) -> [String: String] {
        var owners: [String: String] = [:]
        for model in models {
            for alias in model.aliases where alias.value != model.name.value {
                if modelNames.contains(alias.value) {
                    diagnostics.report("alias \"\(alias.value)\" is already the name of a model", about: alias)
                } else if let owner = owners[alias.value] {
                    let message = owner == model.name.value
                        ? "alias \"\(alias.value)\" is listed twice"
                        : "alias \"\(alias.value)\" is already used by model \"\(owner)\""
                    diagnostics.report(message, about: alias)
                } else {
                    owners[alias.value] = model.name.value
                }
            }
        }
        return owners
    }

    // MARK: Routes

    struct ModelNames {
        var names: Set<String>
        var aliasOwners: [String: String]
    }

    private static func checkRouteNames(_ routes: [RouteDraft], into diagnostics: inout DiagnosticCollector) {
        var firstLine: [String: Int] = [:]
        for name in routes.compactMap(\.name) {
            if let line = firstLine[name.value] {
                diagnostics.report("duplicate route name \"\(name.value)\"; first used on line \(line)", about: name)
            } else {
                firstLine[name.value] = name.position.line
            }
        }
    }

    private static func validate(
        _ route: RouteDraft, models: ModelNames, into diagnostics: inout DiagnosticCollector
    ) {
        if let path = route.matchPath, !path.value.hasPrefix("/") {
            diagnostics.report("must start with \"/\", e.g. \"/v1/chat/completions\"", about: path)
        }
        for target in route.targets {
            if let model = target.model {
                checkReference(model, to: models, into: &diagnostics)
            }
            if let weight = target.weight, weight.value < 1 {
                diagnostics.report("must be >= 1, got \(weight.value)", about: weight)
            }
        }
        for fallback in route.fallbacks {
            checkReference(fallback, to: models, into: &diagnostics)
        }
        validateResilience(of: route, models: models, into: &diagnostics)
    }

    /// Targets and fallbacks name models by their key under `models:`, not by alias.
    static func checkReference(
        _ reference: Located<String>, to models: ModelNames, into diagnostics: inout DiagnosticCollector
    ) {
        guard !models.names.contains(reference.value) else { return }
        if let owner = models.aliasOwners[reference.value] {
            diagnostics.report(
                "\"\(reference.value)\" is an alias of model \"\(owner)\"; name the model itself",
                about: reference
            )
        } else {
            let hint = Suggestions.closest(to: reference.value, in: models.names).map { "; did you mean \"\($0)\"?" }
                ?? "; it must be a key under models"
            diagnostics.report("undefined model \"\(reference.value)\"\(hint)", about: reference)
        }
    }

    /// `2`, `0.5`, `-1.25`: whole numbers without a trailing `.0`.
    static func format(_ value: Double) -> String {
        if value.rounded() == value, abs(value) < 1e15 {
            return String(Int(value))
        }
        return String(value)
    }
}
