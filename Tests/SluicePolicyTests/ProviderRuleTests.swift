import Testing

/// Provider kind, base_url and credential rules.
@Suite("Provider rules")
struct ProviderRuleTests {
    private func provider(_ lines: String) -> String {
        "providers:\n  p:\n" + lines + "\nmodels:\n  m:\n    provider: p\n"
    }

    @Test("kind must be openai, azure-openai or anthropic")
    func kind() {
        #expect(problems(provider("    kind: azure\n    base_url: https://x.example")) == [
            #"p.yaml:3:11: providers.p.kind: invalid value "azure"; expected one of: openai, azure-openai, anthropic"#,
        ])
        #expect(problems(provider("    kind: Anthropic\n    base_url: https://x.example")) == [
            #"p.yaml:3:11: providers.p.kind: invalid value "Anthropic"; did you mean "anthropic"?"#,
        ])
        #expect(problems(provider("    kind: azure_openai\n    base_url: https://x.example\n    api_version: \"1\"")) == [
            #"p.yaml:3:11: providers.p.kind: invalid value "azure_openai"; did you mean "azure-openai"?"#,
        ])
    }

    @Test("base_url must be an http(s) URL with a host and no query or fragment",
          arguments: [
              ("ftp://files.example", #"scheme must be http or https, got "ftp""#),
              ("api.openai.com", "must start with http:// or https://"),
              ("https://", "has no host"),
              ("https:///v1", "has no host"),
              ("https://api.example?v=1", #"must not have a query ("?...")"#),
              ("https://api.example/v1#x", ##"must not have a fragment ("#...")"##),
              ("https://api.example:99999", #"invalid port "99999"; expected 1-65535"#),
              ("https://api.example:", #"invalid port ""; expected 1-65535"#),
              ("https://user:pw@api.example", #"must not contain user info ("user@"); use credential"#),
          ])
    func badBaseURL(url: String, problem: String) {
        #expect(problems(provider("    kind: openai\n    base_url: \"\(url)\"")) == [
            "p.yaml:4:15: providers.p.base_url: invalid URL \"\(url)\": \(problem)",
        ])
    }

    @Test("good base URLs", arguments: [
        "https://api.openai.com", "http://localhost:8080", "https://gateway.example/openai/v1",
        "HTTPS://API.EXAMPLE", "http://[::1]:9000/prefix", "http://10.0.0.7",
    ])
    func goodBaseURL(url: String) {
        #expect(problems(provider("    kind: openai\n    base_url: \"\(url)\"")) == [])
    }

    @Test("credential needs exactly one of env and file")
    func credential() {
        #expect(problems(provider("""
                kind: openai
                base_url: https://x.example
                credential:
                  env: KEY
                  file: /run/key
            """)) == [
            #"p.yaml:6:7: providers.p.credential: set only one of "env" or "file", not both"#,
        ])
        #expect(problems(provider("""
                kind: openai
                base_url: https://x.example
                credential: {}
            """)) == [
            #"p.yaml:5:17: providers.p.credential: must set one of "env" or "file""#,
        ])
    }
}
