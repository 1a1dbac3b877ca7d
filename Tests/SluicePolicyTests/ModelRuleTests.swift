import Testing
import SluicePolicy

/// Provider references, prices and aliases.
@Suite("Model rules")
struct ModelRuleTests {
    private let providers = """
        providers:
          openai:
            kind: openai
            base_url: https://api.openai.com
          anthropic:
            kind: anthropic
            base_url: https://api.anthropic.com

        """

    @Test("the provider must be defined")
    func undefinedProvider() {
        #expect(problems(providers + """
            models:
              a:
                provider: openia
              b:
                provider: google
            """) == [
            #"p.yaml:10:15: models.a.provider: undefined provider "openia"; did you mean "openai"?"#,
            #"p.yaml:12:15: models.b.provider: undefined provider "google"; defined providers: anthropic, openai"#,
        ])
    }

    @Test("a provider with other problems still counts as defined")
    func brokenProviderIsDefined() {
        #expect(problems("""
            providers:
              openai:
                kind: nope
                base_url: https://api.openai.com
            models:
              m:
                provider: openai
            """) == [
            #"p.yaml:3:11: providers.openai.kind: invalid value "nope"; expected one of: openai, azure-openai, anthropic"#,
        ])
    }

    @Test("prices must be finite and not negative")
    func prices() {
        #expect(problems(providers + """
            models:
              m:
                provider: openai
                prices:
                  input: -1
                  output: .inf
                  cached_input: -0.5
            """) == [
            "p.yaml:12:14: models.m.prices.input: must be >= 0, got -1",
            "p.yaml:13:15: models.m.prices.output: must be a finite number",
            "p.yaml:14:21: models.m.prices.cached_input: must be >= 0, got -0.5",
        ])
    }

    @Test("cached_input defaults to input; zero prices are fine")
    func priceDefaults() throws {
        let policy = try PolicyLoader.load(yaml: providers + """
            models:
              m:
                provider: openai
                prices: { input: 0.02, output: 0 }
            """, file: "p.yaml")
        #expect(policy.models["m"]?.prices.cachedInput == 0.02)
    }

    @Test("an alias belongs to one model only")
    func aliasUsedTwice() {
        #expect(problems(providers + """
            models:
              a:
                provider: openai
                aliases: [fast, quick]
              b:
                provider: openai
                aliases: [quick]
            """) == [
            #"p.yaml:14:15: models.b.aliases[0]: alias "quick" is already used by model "a""#,
        ])
    }

    @Test("an alias may not be another model's name")
    func aliasIsModelName() {
        #expect(problems(providers + """
            models:
              a:
                provider: openai
                aliases: [b]
              b:
                provider: openai
            """) == [
            #"p.yaml:11:15: models.a.aliases[0]: alias "b" is already the name of a model"#,
        ])
    }

    @Test("an alias listed twice in one model")
    func aliasListedTwice() {
        #expect(problems(providers + """
            models:
              a:
                provider: openai
                aliases: [fast, fast]
            """) == [
            #"p.yaml:11:21: models.a.aliases[1]: alias "fast" is listed twice"#,
        ])
    }
}

