import Testing

/// Unknown keys are reported at the key, with a suggestion when one is close.
@Suite("Unknown keys")
struct UnknownKeyTests {
    @Test("top level: later sections are not accepted yet")
    func topLevel() {
        #expect(problems(minimalPolicy + "\nbudgets: {}\nlanes: []\n") == [
            #"p.yaml:8:1: budgets: unknown key "budgets"; expected one of: providers, models, routes"#,
            #"p.yaml:9:1: lanes: unknown key "lanes"; expected one of: providers, models, routes"#,
        ])
    }

    @Test("top level: a misspelt section")
    func topLevelTypo() {
        #expect(problems(minimalPolicy + "\nroute: []\n") == [
            #"p.yaml:8:1: route: unknown key "route"; did you mean "routes"?"#,
        ])
    }

    @Test("provider")
    func provider() {
        #expect(problems("""
            providers:
              openai:
                kind: openai
                base_url: https://api.openai.com
                baseURL: https://api.openai.com
                timeout: 3
                retries: 2
            models:
              m:
                provider: openai
            """) == [
            #"p.yaml:5:5: providers.openai.baseURL: unknown key "baseURL"; did you mean "base_url"?"#,
            #"p.yaml:6:5: providers.openai.timeout: unknown key "timeout"; did you mean "timeouts"?"#,
            #"p.yaml:7:5: providers.openai.retries: unknown key "retries"; expected one of: kind, base_url, credential, ca_file, api_version, deployments, headers, max_connections, timeouts, breaker"#,
        ])
    }

    @Test("credential")
    func credential() {
        #expect(problems("""
            providers:
              openai:
                kind: openai
                base_url: https://api.openai.com
                credential:
                  env: KEY
                  fille: /k
            models:
              m:
                provider: openai
            """) == [
            #"p.yaml:7:7: providers.openai.credential.fille: unknown key "fille"; did you mean "file"?"#,
        ])
    }

    @Test("model and prices")
    func modelAndPrices() {
        #expect(problems("""
            providers:
              openai:
                kind: openai
                base_url: https://api.openai.com
            models:
              m:
                provider: openai
                upstream-model: x
                prices: { input: 1, cached: 0.5 }
            """) == [
            #"p.yaml:8:5: models.m.upstream-model: unknown key "upstream-model"; did you mean "upstream_model"?"#,
            #"p.yaml:9:25: models.m.prices.cached: unknown key "cached"; expected one of: input, output, cached_input"#,
        ])
    }

    @Test("route, match and target")
    func routeMatchTarget() {
        #expect(problems(minimalPolicy + """

            routes:
              - name: r
                match: { feture: search }
                targets:
                  - model: m
                    wieght: 2
                fallback: [m]
            """) == [
            #"p.yaml:10:14: routes[0].match.feture: unknown key "feture"; did you mean "feature"?"#,
            #"p.yaml:13:9: routes[0].targets[0].wieght: unknown key "wieght"; did you mean "weight"?"#,
            #"p.yaml:14:5: routes[0].fallback: unknown key "fallback"; did you mean "fallbacks"?"#,
        ])
    }
}
