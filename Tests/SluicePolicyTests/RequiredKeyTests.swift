import Testing

/// Missing required keys are reported at the mapping that lacks them.
@Suite("Required keys")
struct RequiredKeyTests {
    @Test("providers and models are required")
    func topLevel() {
        #expect(problems("routes: []\n") == [
            #"p.yaml:1:1: providers: missing required key "providers""#,
            #"p.yaml:1:1: models: missing required key "models""#,
        ])
    }

    @Test("at least one provider and one model")
    func atLeastOne() {
        #expect(problems("providers: {}\nmodels:\n") == [
            "p.yaml:1:12: providers: must define at least one provider",
            "p.yaml:2:8: models: must define at least one model",
        ])
    }

    @Test("provider kind and base_url")
    func provider() {
        #expect(problems("""
            providers:
              openai:
                ca_file: /ca.pem
            models:
              m:
                provider: openai
            """) == [
            #"p.yaml:3:5: providers.openai.kind: missing required key "kind""#,
            #"p.yaml:3:5: providers.openai.base_url: missing required key "base_url""#,
        ])
    }

    @Test("model provider")
    func model() {
        #expect(problems("""
            providers:
              openai:
                kind: openai
                base_url: https://api.openai.com
            models:
              m:
                upstream_model: x
              n: {}
            """) == [
            #"p.yaml:7:5: models.m.provider: missing required key "provider""#,
            #"p.yaml:8:6: models.n.provider: missing required key "provider""#,
        ])
    }

    @Test("route name and targets, target model")
    func route() {
        #expect(problems(minimalPolicy + """

            routes:
              - match: { feature: f }
              - name: r
                targets:
                  - weight: 2
            """) == [
            #"p.yaml:9:5: routes[0].name: missing required key "name""#,
            #"p.yaml:9:5: routes[0].targets: missing required key "targets""#,
            #"p.yaml:12:9: routes[1].targets[0].model: missing required key "model""#,
        ])
    }
}
