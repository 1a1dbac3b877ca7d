/// Provider settings beyond where and how to call: the Azure OpenAI keys, extra headers,
/// the connection cap and the circuit breaker.
extension PolicyValidator {
    /// The most connections a provider may be given.
    static let connectionCap = 1...10_000

    static func validateSettings(
        of provider: ProviderDraft, models: [ModelDraft], into diagnostics: inout DiagnosticCollector
    ) {
        checkAzureKeys(of: provider, models: models, into: &diagnostics)
        checkHeaders(provider.headers, into: &diagnostics)
        if let cap = provider.maxConnections, !connectionCap.contains(cap.value) {
            diagnostics.report(
                "must be between \(connectionCap.lowerBound) and \(connectionCap.upperBound), got \(cap.value)", about: cap
            )
        }
        checkBreaker(provider.breaker, into: &diagnostics)
    }

    /// `api_version` is required for `azure-openai` and refused elsewhere, as `deployments`
    /// is: on another kind the sidecar would never send them, so they point at a wrong kind.
    private static func checkAzureKeys(
        of provider: ProviderDraft, models: [ModelDraft], into diagnostics: inout DiagnosticCollector
    ) {
        guard let kindName = provider.kind?.value, let kind = ProviderKind(rawValue: kindName) else { return }
        let azure = ProviderKind.azureOpenAI.rawValue
        if kind == .azureOpenAI {
            if !provider.hasAPIVersion {
                diagnostics.report(
                    "missing required key \"api_version\" for kind \(azure), e.g. api_version: \"2024-10-21\"",
                    at: provider.position, field: FieldPath.join(provider.name.field, ProviderKey.apiVersion.rawValue)
                )
            }
        } else {
            if let apiVersion = provider.apiVersion {
                diagnostics.report("only applies to kind \(azure); this provider is \(kind.rawValue)", about: apiVersion)
            }
            if let deployments = provider.deployments {
                diagnostics.report("only applies to kind \(azure); this provider is \(kind.rawValue)", about: deployments)
            }
            return
        }
        if let apiVersion = provider.apiVersion, !apiVersion.value.allSatisfy(isNameCharacter) {
            diagnostics.report(
                "invalid api_version \"\(apiVersion.value)\"; use letters, digits, \"-\", \".\" and \"_\", e.g. \"2024-10-21\"",
                about: apiVersion
            )
        }
        let served = Set(models.filter { $0.provider?.value == provider.name.value }
            .map { $0.upstreamModel?.value ?? $0.name.value })
        var seen = Set<String>()
        for entry in provider.deployments?.value ?? [] {
            if !seen.insert(entry.key.value).inserted {
                diagnostics.report("model \"\(entry.key.value)\" is listed twice", about: entry.key)
            } else if !served.contains(entry.key.value) {
                let hint = Suggestions.closest(to: entry.key.value, in: served).map { "; did you mean \"\($0)\"?" }
                    ?? (served.isEmpty ? "; no model uses this provider" : "; its models' upstream names: \(served.sorted().joined(separator: ", "))")
                diagnostics.report(
                    "no model of provider \"\(provider.name.value)\" has upstream model \"\(entry.key.value)\"\(hint)",
                    about: entry.key
                )
            }
            if let deployment = entry.value, !deployment.value.allSatisfy(isNameCharacter) {
                diagnostics.report(
                    "invalid deployment name \"\(deployment.value)\"; use letters, digits, \"-\", \".\" and \"_\"",
                    about: deployment
                )
            }
        }
    }

    private static func checkHeaders(_ headers: [KeyValueDraft], into diagnostics: inout DiagnosticCollector) {
        var firstLine: [String: (name: String, line: Int)] = [:]
        for header in headers {
            if let problem = HeaderCheck.problem(withName: header.key.value) {
                diagnostics.report(problem, about: header.key)
            } else if let first = firstLine[header.key.value.lowercased()] {
                diagnostics.report(
                    "header \"\(header.key.value)\" is already set as \"\(first.name)\" on line \(first.line)", about: header.key
                )
            } else {
                firstLine[header.key.value.lowercased()] = (header.key.value, header.key.position.line)
            }
            if let value = header.value, let problem = HeaderCheck.problem(withValue: value.value) {
                diagnostics.report(problem, about: value)
            }
        }
    }

    private static func checkBreaker(_ breaker: BreakerDraft, into diagnostics: inout DiagnosticCollector) {
        for count in [breaker.consecutiveFailures, breaker.minCalls, breaker.probes].compactMap({ $0 }) where count.value < 1 {
            diagnostics.report("must be >= 1, got \(count.value)", about: count)
        }
        if let ratio = breaker.failureRatio, !(ratio.value > 0 && ratio.value <= 1) {
            diagnostics.report("must be greater than 0 and at most 1, got \(format(ratio.value))", about: ratio)
        }
    }

    /// Letters, digits, `-`, `.` and `_`: safe in a URL path segment and a query value.
    private static func isNameCharacter(_ character: Character) -> Bool {
        character.isASCII && (character.isLetter || character.isNumber || character == "-" || character == "." || character == "_")
    }
}
