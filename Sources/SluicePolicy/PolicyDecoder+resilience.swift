import Yams

/// Decoding of the provider and route settings for resilience: timeouts, breaker, retry,
/// degrade and fallback reply, plus the string maps and durations they are written with.
extension PolicyDecoder {
    mutating func decodeTimeouts(_ node: Node, field: String) -> TimeoutsDraft {
        var draft = TimeoutsDraft()
        guard !node.isNull, let mapping = expectMapping(node, field: field) else { return draft }
        for entry in entries(of: mapping, field: field, as: TimeoutsKey.self) {
            let value = duration(entry.value, field: entry.field)
            switch entry.key {
            case .connect: draft.connect = value
            case .head: draft.head = value
            case .firstToken: draft.firstToken = value
            case .idle: draft.idle = value
            case .total: draft.total = value
            }
        }
        return draft
    }

    mutating func decodeBreaker(_ node: Node, field: String) -> BreakerDraft {
        var draft = BreakerDraft()
        guard !node.isNull, let mapping = expectMapping(node, field: field) else { return draft }
        for entry in entries(of: mapping, field: field, as: BreakerKey.self) {
            switch entry.key {
            case .consecutiveFailures: draft.consecutiveFailures = integer(entry.value, field: entry.field)
            case .failureRatio: draft.failureRatio = number(entry.value, field: entry.field)
            case .window: draft.window = duration(entry.value, field: entry.field)
            case .minCalls: draft.minCalls = integer(entry.value, field: entry.field)
            case .openFor: draft.openFor = duration(entry.value, field: entry.field)
            case .probes: draft.probes = integer(entry.value, field: entry.field)
            }
        }
        return draft
    }

    mutating func decodeRetry(_ node: Node, field: String) -> RetryDraft {
        var draft = RetryDraft()
        guard !node.isNull, let mapping = expectMapping(node, field: field) else { return draft }
        for entry in entries(of: mapping, field: field, as: RetryKey.self) {
            switch entry.key {
            case .attempts: draft.attempts = integer(entry.value, field: entry.field)
            case .backoff: draft.backoff = duration(entry.value, field: entry.field)
            case .maxBackoff: draft.maxBackoff = duration(entry.value, field: entry.field)
            case .budgetPercent: draft.budgetPercent = number(entry.value, field: entry.field)
            case .budgetFloor: draft.budgetFloor = integer(entry.value, field: entry.field)
            }
        }
        return draft
    }

    mutating func decodeDegrade(_ node: Node, field: String) -> DegradeDraft? {
        guard let mapping = expectMapping(node, field: field) else { return nil }
        var draft = DegradeDraft()
        for entry in entries(of: mapping, field: field, as: DegradeKey.self) {
            switch entry.key {
            case .to: draft.to = string(entry.value, field: entry.field)
            case .when:
                guard let when = expectMapping(entry.value, field: entry.field) else { continue }
                draft.when = Located(value: (), position: when.position, field: entry.field)
                for condition in entries(of: when, field: entry.field, as: DegradeWhenKey.self) {
                    switch condition.key {
                    case .latencyP95Over:
                        draft.latencyP95Over = duration(condition.value, field: condition.field)
                        if draft.latencyP95Over == nil { draft.hasInvalidCondition = true }
                    case .breakerOpen:
                        draft.breakerOpen = boolean(condition.value, field: condition.field)
                        if draft.breakerOpen == nil { draft.hasInvalidCondition = true }
                    }
                }
            }
        }
        return draft
    }

    mutating func decodeFallbackReply(_ node: Node, field: String) -> FallbackReplyDraft? {
        guard let mapping = expectMapping(node, field: field) else { return nil }
        var draft = FallbackReplyDraft()
        for entry in entries(of: mapping, field: field, as: FallbackReplyKey.self) {
            switch entry.key {
            case .content: draft.content = string(entry.value, field: entry.field)
            }
        }
        return draft
    }

    // MARK: Values

    /// A mapping of names to non-empty strings (`deployments:`, `headers:`); null is empty.
    mutating func stringMap(_ node: Node, field: String) -> [KeyValueDraft] {
        guard !node.isNull, let mapping = expectMapping(node, field: field) else { return [] }
        var result: [KeyValueDraft] = []
        for (keyNode, value) in mapping {
            guard let name = keyName(keyNode, field: field) else { continue }
            let entryField = FieldPath.join(field, name)
            result.append(KeyValueDraft(
                key: Located(value: name, position: keyNode.position, field: entryField),
                value: string(value, field: entryField)
            ))
        }
        return result
    }

    /// A duration in milliseconds: `250ms`, `1.5s`, `2m`, `1h`, or a bare integer of seconds.
    mutating func duration(_ node: Node, field: String) -> Located<Int>? {
        let text: String
        let result: Result<Int, DurationText.Problem>
        switch (node, node.tagName) {
        case (.scalar(let scalar), .str):
            text = scalar.string
            result = DurationText.milliseconds(in: text)
        case (.scalar(let scalar), .int):
            text = scalar.string
            guard let seconds = node.int else {
                diagnostics.report("integer \(text) is out of range", at: node.position, field: field)
                return nil
            }
            result = DurationText.milliseconds(seconds: seconds)
        case (.scalar(let scalar), .float):
            diagnostics.report(
                "expected a duration with a unit, got \(scalar.string); write \"\(scalar.string)s\" for seconds",
                at: node.position, field: field
            )
            return nil
        default:
            diagnostics.report(
                "expected a duration such as \"250ms\", \"2s\" or \"1m\", got \(node.kindDescription)",
                at: node.position, field: field
            )
            return nil
        }
        switch result {
        case .success(let milliseconds):
            return Located(value: milliseconds, position: node.position, field: field)
        case .failure(let problem):
            diagnostics.report(Self.message(for: problem, text: text), at: node.position, field: field)
            return nil
        }
    }

    /// `true` or `false`.
    mutating func boolean(_ node: Node, field: String) -> Located<Bool>? {
        if case .scalar = node, node.tagName == .bool, let value = node.bool {
            return Located(value: value, position: node.position, field: field)
        }
        diagnostics.report("expected true or false, got \(node.kindDescription)", at: node.position, field: field)
        return nil
    }

    private static func message(for problem: DurationText.Problem, text: String) -> String {
        switch problem {
        case .malformed:
            "invalid duration \"\(text)\"; write a number and a unit (ms, s, m or h), e.g. \"250ms\", \"1.5s\", \"2m\""
        case .notPositive:
            "must be greater than 0, got \(text)"
        case .fractionalMilliseconds:
            "must be a whole number of milliseconds, got \(text)"
        case .tooLong:
            "must be at most \(DurationText.text(milliseconds: DurationText.maximumMilliseconds)), got \(text)"
        }
    }
}
