/// A route's resilience settings: retry bounds and backoff, fallbacks, the degrade rule and
/// the fallback reply.
extension PolicyValidator {
    /// Attempts per target a route may ask for, the first included.
    static let attemptRange = 1...10

    static func validateResilience(
        of route: RouteDraft, models: ModelNames, into diagnostics: inout DiagnosticCollector
    ) {
        checkRetry(route.retry, into: &diagnostics)
        let targetModels = Set(route.targets.compactMap(\.model?.value))
        let onlyTarget = targetModels.count == 1 ? targetModels.first : nil
        var listed = Set<String>()
        for fallback in route.fallbacks {
            if fallback.value == onlyTarget {
                diagnostics.report(
                    "\"\(fallback.value)\" is the route's only target; fall back to another model (retry.attempts retries the target)",
                    about: fallback
                )
            } else if !listed.insert(fallback.value).inserted {
                diagnostics.report("\"\(fallback.value)\" is listed twice", about: fallback)
            }
        }
        if let degrade = route.degrade {
            checkDegrade(degrade, onlyTarget: onlyTarget, models: models, into: &diagnostics)
        }
        if let content = route.fallbackReply?.content, content.value.allSatisfy(\.isWhitespace) {
            diagnostics.report("must not be blank", about: content)
        }
    }

    private static func checkRetry(_ retry: RetryDraft, into diagnostics: inout DiagnosticCollector) {
        if let attempts = retry.attempts, !attemptRange.contains(attempts.value) {
            diagnostics.report(
                "must be between \(attemptRange.lowerBound) and \(attemptRange.upperBound), got \(attempts.value)", about: attempts
            )
        }
        if let percent = retry.budgetPercent, !(percent.value >= 0 && percent.value <= 100) {
            diagnostics.report("must be between 0 and 100, got \(format(percent.value))", about: percent)
        }
        if let floor = retry.budgetFloor, floor.value < 0 {
            diagnostics.report("must be >= 0, got \(floor.value)", about: floor)
        }
        let defaults = RetrySettings()
        let backoff = retry.backoff?.value ?? defaults.backoffMilliseconds
        let maxBackoff = retry.maxBackoff?.value ?? defaults.maxBackoffMilliseconds
        guard backoff > maxBackoff else { return }
        let maxText = DurationText.text(milliseconds: maxBackoff)
        let backoffText = DurationText.text(milliseconds: backoff)
        if let located = retry.backoff {
            let source = retry.maxBackoff == nil ? "max_backoff, \(maxText) by default" : "max_backoff, \(maxText)"
            diagnostics.report("must be at most \(source); got \(backoffText)", about: located)
        } else if let located = retry.maxBackoff {
            diagnostics.report("must be at least backoff, \(backoffText) by default; got \(maxText)", about: located)
        }
    }

    private static func checkDegrade(
        _ degrade: DegradeDraft, onlyTarget: String?, models: ModelNames, into diagnostics: inout DiagnosticCollector
    ) {
        if let when = degrade.when, !degrade.hasCondition, !degrade.hasInvalidCondition {
            diagnostics.report("must set latency_p95_over or breaker_open: true", about: when)
        }
        guard let to = degrade.to else { return }
        if to.value == onlyTarget {
            diagnostics.report("\"\(to.value)\" is the route's only target; degrade to another model", about: to)
        } else {
            checkReference(to, to: models, into: &diagnostics)
        }
    }
}
