import Testing

/// Route names, match paths, targets, weights and fallbacks.
@Suite("Route rules")
struct RouteRuleTests {
    private let models = """
        providers:
          openai:
            kind: openai
            base_url: https://api.openai.com
        models:
          gpt-4o-mini:
            provider: openai
            aliases: [fast]
          gpt-4o:
            provider: openai

        """

    @Test("targets must not be empty")
    func emptyTargets() {
        #expect(problems(models + """
            routes:
              - name: a
                targets: []
              - name: b
                targets:
            """) == [
            "p.yaml:13:14: routes[0].targets: must list at least one target",
            "p.yaml:15:13: routes[1].targets: must list at least one target",
        ])
    }

    @Test("weights are at least 1")
    func weights() {
        #expect(problems(models + """
            routes:
              - name: a
                targets:
                  - model: gpt-4o
                    weight: 0
                  - model: gpt-4o-mini
                    weight: -3
            """) == [
            "p.yaml:15:17: routes[0].targets[0].weight: must be >= 1, got 0",
            "p.yaml:17:17: routes[0].targets[1].weight: must be >= 1, got -3",
        ])
    }

    @Test("targets name models, not aliases or unknown names")
    func targetReferences() {
        #expect(problems(models + """
            routes:
              - name: a
                targets:
                  - model: fast
                  - model: gpt-4
                  - model: claude
            """) == [
            #"p.yaml:14:16: routes[0].targets[0].model: "fast" is an alias of model "gpt-4o-mini"; name the model itself"#,
            #"p.yaml:15:16: routes[0].targets[1].model: undefined model "gpt-4"; did you mean "gpt-4o"?"#,
            #"p.yaml:16:16: routes[0].targets[2].model: undefined model "claude"; it must be a key under models"#,
        ])
    }

    @Test("fallbacks name models")
    func fallbackReferences() {
        #expect(problems(models + """
            routes:
              - name: a
                targets: [{ model: gpt-4o }]
                fallbacks: [gpt-4o-mini, fast, gpt-5]
            """) == [
            #"p.yaml:14:30: routes[0].fallbacks[1]: "fast" is an alias of model "gpt-4o-mini"; name the model itself"#,
            #"p.yaml:14:36: routes[0].fallbacks[2]: undefined model "gpt-5"; did you mean "gpt-4o"?"#,
        ])
    }

    @Test("route names are unique")
    func duplicateNames() {
        #expect(problems(models + """
            routes:
              - name: a
                targets: [{ model: gpt-4o }]
              - name: b
                targets: [{ model: gpt-4o }]
              - name: a
                targets: [{ model: gpt-4o }]
            """) == [
            #"p.yaml:16:11: routes[2].name: duplicate route name "a"; first used on line 12"#,
        ])
    }

    @Test("match path starts with a slash; match model may be any client-facing name")
    func matchPath() {
        #expect(problems(models + """
            routes:
              - name: a
                match: { model: anything, path: v1/chat/completions }
                targets: [{ model: gpt-4o }]
            """) == [
            #"p.yaml:13:37: routes[0].match.path: must start with "/", e.g. "/v1/chat/completions""#,
        ])
    }
}
