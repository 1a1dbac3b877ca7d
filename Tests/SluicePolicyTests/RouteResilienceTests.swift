import Testing
import SluicePolicy

/// A route's timeouts, retry, degrade rule, fallbacks and fallback reply: decoded values,
/// defaults and every rule.
@Suite("Route resilience")
struct RouteResilienceTests {
    /// Lines 1-13: two providers and three models; then `routes:` (line 14).
    private let models = """
        providers:
          openai:
            kind: openai
            base_url: https://api.openai.com
          anthropic:
            kind: anthropic
            base_url: https://api.anthropic.com
        models:
          gpt-4o-mini: { provider: openai, aliases: [fast] }
          gpt-4o:
            provider: openai
          claude-sonnet-4:
            provider: anthropic

        """

    /// A route `r` targeting only gpt-4o (lines 14-16), with `lines` from line 17.
    private func route(_ lines: String) -> String {
        models + "routes:\n  - name: r\n    targets: [{ model: gpt-4o }]\n" + lines
    }

    @Test("every route key is decoded (the issue's example)")
    func decodesEverything() throws {
        let policy = try PolicyLoader.load(yaml: route("""
                fallbacks: [ claude-sonnet-4 ]
                timeouts: { connect: 2s, head: 30s, first_token: 10s, idle: 30s, total: 120s }
                retry: { attempts: 3, backoff: 200ms, max_backoff: 5s, budget_percent: 12.5, budget_floor: 0 }
                degrade: { when: { latency_p95_over: 5s, breaker_open: true }, to: gpt-4o-mini }
                fallback_reply: { content: "The assistant is busy; try again shortly." }
            """), file: "p.yaml")
        #expect(policy.routes == [
            Route(
                name: "r", targets: [RouteTarget(model: "gpt-4o")], fallbacks: ["claude-sonnet-4"],
                timeouts: Timeouts(connect: 2_000, head: 30_000, firstToken: 10_000, idle: 30_000, total: 120_000),
                retry: RetrySettings(
                    attempts: 3, backoffMilliseconds: 200, maxBackoffMilliseconds: 5_000, budgetPercent: 12.5, budgetFloor: 0
                ),
                degrade: DegradeRule(latencyP95OverMilliseconds: 5_000, breakerOpen: true, to: "gpt-4o-mini"),
                fallbackReply: FallbackReply(content: "The assistant is busy; try again shortly.")
            ),
        ])
    }

    @Test("keys left out take the Swift defaults, which are the documented ones")
    func defaults() throws {
        let policy = try PolicyLoader.load(yaml: route(""), file: "p.yaml")
        let route = try #require(policy.routes.first)
        #expect(route.timeouts == Timeouts())
        #expect(route.retry == RetrySettings())
        #expect(route.retry == RetrySettings(
            attempts: 1, backoffMilliseconds: 200, maxBackoffMilliseconds: 5_000, budgetPercent: 20, budgetFloor: 3
        ))
        #expect(route.degrade == nil)
        #expect(route.fallbackReply == nil)
        #expect(route.fallbacks.isEmpty)
    }

    @Test("a degrade rule with one condition; a partial retry keeps the other defaults")
    func partial() throws {
        let policy = try PolicyLoader.load(yaml: route("""
                retry: { attempts: 2 }
                degrade: { when: { latency_p95_over: 1500ms }, to: gpt-4o-mini }
                timeouts: { total: 1m }
            """), file: "p.yaml")
        var retry = RetrySettings()
        retry.attempts = 2
        #expect(policy.routes.first?.retry == retry)
        #expect(policy.routes.first?.degrade == DegradeRule(latencyP95OverMilliseconds: 1_500, breakerOpen: false, to: "gpt-4o-mini"))
        #expect(policy.routes.first?.timeouts == Timeouts(total: 60_000))
    }

    // MARK: Retry

    @Test("retry bounds: attempts 1…10, budget_percent 0…100, budget_floor >= 0")
    func retryBoundsRefused() {
        #expect(problems(route("""
                retry:
                  attempts: 0
                  budget_percent: -1
                  budget_floor: -1
            """)) == [
            "p.yaml:18:17: routes[0].retry.attempts: must be between 1 and 10, got 0",
            "p.yaml:19:23: routes[0].retry.budget_percent: must be between 0 and 100, got -1",
            "p.yaml:20:21: routes[0].retry.budget_floor: must be >= 0, got -1",
        ])
        #expect(problems(route("    retry: { attempts: 11, budget_percent: 100.5 }")) == [
            "p.yaml:17:24: routes[0].retry.attempts: must be between 1 and 10, got 11",
            "p.yaml:17:44: routes[0].retry.budget_percent: must be between 0 and 100, got 100.5",
        ])
    }

    @Test("retry at its bounds", arguments: [
        "{ attempts: 1, budget_percent: 0, budget_floor: 0 }",
        "{ attempts: 10, budget_percent: 100, budget_floor: 1000 }",
        "{ backoff: 5s, max_backoff: 5s }",
    ])
    func retryBoundsAccepted(retry: String) {
        #expect(problems(route("    retry: \(retry)")) == [])
    }

    @Test("backoff may not exceed max_backoff, written or default")
    func backoffOrder() {
        #expect(problems(route("    retry: { backoff: 10s, max_backoff: 5s }")) == [
            "p.yaml:17:23: routes[0].retry.backoff: must be at most max_backoff, 5s; got 10s",
        ])
        #expect(problems(route("    retry: { backoff: 6s }")) == [
            "p.yaml:17:23: routes[0].retry.backoff: must be at most max_backoff, 5s by default; got 6s",
        ])
        #expect(problems(route("    retry: { max_backoff: 100ms }")) == [
            "p.yaml:17:27: routes[0].retry.max_backoff: must be at least backoff, 200ms by default; got 100ms",
        ])
    }

    // MARK: Degrade

    @Test("degrade needs a condition that can hold")
    func degradeConditions() {
        #expect(problems(route("""
                degrade: { when: {}, to: gpt-4o-mini }
            """)) == [
            "p.yaml:17:22: routes[0].degrade.when: must set latency_p95_over or breaker_open: true",
        ])
        #expect(problems(route("""
                degrade:
                  when:
                    breaker_open: false
                  to: gpt-4o-mini
            """)) == [
            "p.yaml:19:9: routes[0].degrade.when: must set latency_p95_over or breaker_open: true",
        ])
        #expect(problems(route("""
                degrade: { when: { breaker_open: "true", latency_p95_over: 0ms }, to: gpt-4o-mini }
            """)) == [
            #"p.yaml:17:38: routes[0].degrade.when.breaker_open: expected true or false, got a string"#,
            "p.yaml:17:64: routes[0].degrade.when.latency_p95_over: must be greater than 0, got 0ms",
        ])
    }

    @Test("degrade needs when and to")
    func degradeRequired() {
        #expect(problems(route("""
                degrade: { to: gpt-4o-mini }
            """)) == [
            #"p.yaml:17:14: routes[0].degrade.when: missing required key "when""#,
        ])
        #expect(problems(route("""
                degrade:
                  when: { breaker_open: true }
            """)) == [
            #"p.yaml:18:7: routes[0].degrade.to: missing required key "to""#,
        ])
    }

    @Test("degrade.to names another model")
    func degradeTarget() {
        #expect(problems(route("    degrade: { when: { breaker_open: true }, to: fast }")) == [
            #"p.yaml:17:50: routes[0].degrade.to: "fast" is an alias of model "gpt-4o-mini"; name the model itself"#,
        ])
        #expect(problems(route("    degrade: { when: { breaker_open: true }, to: gpt-4o-mni }")) == [
            #"p.yaml:17:50: routes[0].degrade.to: undefined model "gpt-4o-mni"; did you mean "gpt-4o-mini"?"#,
        ])
        #expect(problems(route("    degrade: { when: { breaker_open: true }, to: gpt-4o }")) == [
            #"p.yaml:17:50: routes[0].degrade.to: "gpt-4o" is the route's only target; degrade to another model"#,
        ])
    }

    @Test("degrading to one of several targets is allowed")
    func degradeToOtherTarget() {
        #expect(problems(models + """
            routes:
              - name: r
                targets: [{ model: gpt-4o, weight: 9 }, { model: gpt-4o-mini }]
                degrade: { when: { breaker_open: true }, to: gpt-4o-mini }
                fallbacks: [gpt-4o-mini]
            """) == [])
    }

    // MARK: Fallbacks and fallback reply

    @Test("a fallback is not the only target and is listed once")
    func fallbacks() {
        #expect(problems(route("    fallbacks: [gpt-4o, claude-sonnet-4, gpt-4o-mini, claude-sonnet-4]")) == [
            #"p.yaml:17:17: routes[0].fallbacks[0]: "gpt-4o" is the route's only target; fall back to another model (retry.attempts retries the target)"#,
            #"p.yaml:17:55: routes[0].fallbacks[3]: "claude-sonnet-4" is listed twice"#,
        ])
    }

    @Test("fallback_reply needs non-blank content")
    func fallbackReply() {
        #expect(problems(route(#"    fallback_reply: { content: "" }"#)) == [
            "p.yaml:17:32: routes[0].fallback_reply.content: must not be empty",
        ])
        #expect(problems(route(#"    fallback_reply: { content: "  \n " }"#)) == [
            "p.yaml:17:32: routes[0].fallback_reply.content: must not be blank",
        ])
        #expect(problems(route("    fallback_reply: {}")) == [
            #"p.yaml:17:21: routes[0].fallback_reply.content: missing required key "content""#,
        ])
        #expect(problems(route("    fallback_reply: busy")) == [
            "p.yaml:17:21: routes[0].fallback_reply: expected a mapping, got a string",
        ])
    }

    @Test("misspelt keys in route settings get suggestions")
    func unknownKeys() {
        #expect(problems(route("""
                retry: { attempt: 2, budget: 10 }
                degrade: { wen: { breaker_open: true }, to: gpt-4o-mini }
                fallback-reply: { content: x }
            """)) == [
            #"p.yaml:17:14: routes[0].retry.attempt: unknown key "attempt"; did you mean "attempts"?"#,
            #"p.yaml:17:26: routes[0].retry.budget: unknown key "budget"; expected one of: attempts, backoff, max_backoff, budget_percent, budget_floor"#,
            #"p.yaml:18:14: routes[0].degrade.when: missing required key "when""#,
            #"p.yaml:18:16: routes[0].degrade.wen: unknown key "wen"; did you mean "when"?"#,
            #"p.yaml:19:5: routes[0].fallback-reply: unknown key "fallback-reply"; did you mean "fallback_reply"?"#,
        ])
    }
}
