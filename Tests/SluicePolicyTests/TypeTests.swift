import Testing

/// Values of the wrong type are reported at the value.
@Suite("Wrong types")
struct TypeTests {
    @Test("a number where a string is expected")
    func numberForString() {
        #expect(problems("""
            providers:
              openai:
                kind: openai
                base_url: 42
            models:
              m:
                provider: openai
            """) == [
            #"p.yaml:4:15: providers.openai.base_url: expected a string, got a number; quote it if "42" is meant as text"#,
        ])
    }

    @Test("a boolean and a null where strings are expected")
    func boolAndNullForString() {
        #expect(problems(minimalPolicy + """

                upstream_model:
            routes:
              - name: yes
                targets: [{ model: m }]
            """) == [
            "p.yaml:8:20: models.m.upstream_model: expected a string, got null",
            #"p.yaml:10:11: routes[0].name: expected a string, got a boolean; quote it if "yes" is meant as text"#,
        ])
    }

    @Test("a string where a number is expected")
    func stringForNumber() {
        #expect(problems(minimalPolicy + """

                prices: { input: "0.15", output: [1] }
            """) == [
            "p.yaml:8:22: models.m.prices.input: expected a number, got a string",
            "p.yaml:8:38: models.m.prices.output: expected a number, got a list",
        ])
    }

    @Test("weights must be integers")
    func weightIntegers() {
        #expect(problems(minimalPolicy + """

            routes:
              - name: r
                targets:
                  - { model: m, weight: 1.5 }
                  - { model: m, weight: "2" }
            """) == [
            "p.yaml:11:29: routes[0].targets[0].weight: expected an integer, got 1.5",
            "p.yaml:12:29: routes[0].targets[1].weight: expected an integer, got a string",
        ])
    }

    @Test("a scalar where a list is expected")
    func scalarForList() {
        #expect(problems(minimalPolicy + """

                aliases: fast
            routes:
              - name: r
                targets: [{ model: m }]
                fallbacks: m
            """) == [
            "p.yaml:8:14: models.m.aliases: expected a list, got a string",
            "p.yaml:12:16: routes[0].fallbacks: expected a list, got a string",
        ])
    }

    @Test("a list or scalar where a mapping is expected")
    func notMapping() {
        #expect(problems("""
            providers: [openai]
            models:
              m: gpt
            routes: { name: r }
            """) == [
            "p.yaml:1:12: providers: expected a mapping, got a list",
            "p.yaml:3:6: models.m: expected a mapping, got a string",
            "p.yaml:4:9: routes: expected a list, got a mapping",
        ])
    }

    @Test("credential, prices and match must be mappings")
    func nestedMappings() {
        #expect(problems("""
            providers:
              openai:
                kind: openai
                base_url: https://api.openai.com
                credential: OPENAI_API_KEY
            models:
              m:
                provider: openai
                prices: 0.15
            routes:
              - name: r
                match: search
                targets: [{ model: m }]
              - just-a-string
            """) == [
            "p.yaml:5:17: providers.openai.credential: expected a mapping, got a string",
            "p.yaml:9:13: models.m.prices: expected a mapping, got a number",
            "p.yaml:12:12: routes[0].match: expected a mapping, got a string",
            "p.yaml:14:5: routes[1]: expected a mapping, got a string",
        ])
    }

    @Test("a target written as a bare model name gets a hint")
    func bareTarget() {
        #expect(problems(minimalPolicy + """

            routes:
              - name: r
                targets: [m]
            """) == [
            #"p.yaml:10:15: routes[0].targets[0]: expected a mapping, got a string; write "- model: m""#,
        ])
    }

    @Test("strings must not be empty")
    func emptyStrings() {
        #expect(problems("""
            providers:
              openai:
                kind: openai
                base_url: https://api.openai.com
                credential: { env: "" }
            models:
              m:
                provider: openai
                aliases: ['']
            """) == [
            "p.yaml:5:24: providers.openai.credential.env: must not be empty",
            "p.yaml:9:15: models.m.aliases[0]: must not be empty",
        ])
    }
}
