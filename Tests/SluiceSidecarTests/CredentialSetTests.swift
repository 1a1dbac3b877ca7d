import SluicePolicy
import Testing
@testable import SluiceSidecar

@Suite struct CredentialSetTests {
    /// `openai` reads a mounted secret file, `anthropic` an environment variable, `local`
    /// has no credential.
    let policy = Policy(providers: [
        "openai": Provider(name: "openai", kind: .openai, baseURL: "http://127.0.0.1:9", credential: .file("/secrets/openai")),
        "anthropic": Provider(name: "anthropic", kind: .anthropic, baseURL: "http://127.0.0.1:10", credential: .environment("ANTHROPIC_KEY")),
        "local": Provider(name: "local", kind: .openai, baseURL: "http://127.0.0.1:11"),
    ])

    func load(file: String?, env: String? = "sk-ant", previous: CredentialSet? = nil) -> (credentials: CredentialSet, problems: [CredentialProblem]) {
        var environment: [String: String] = [:]
        if let env { environment["ANTHROPIC_KEY"] = env }
        return CredentialSet.load(for: policy, environment: environment, readFile: { path in
            path == "/secrets/openai" ? file : nil
        }, previous: previous)
    }

    @Test func goodSourcesAreTrimmedAndUsed() {
        let (credentials, problems) = load(file: "sk-old\n")
        #expect(credentials.secrets == ["openai": "sk-old", "anthropic": "sk-ant"])
        #expect(credentials.bearerValues["openai"] == "Bearer sk-old")
        #expect(problems.isEmpty)
    }

    @Test func truncateThenWriteKeepsTheWorkingKeyThenTakesTheNewOne() {
        let first = load(file: "sk-old\n")
        // The kubelet truncates the file ...
        let truncated = load(file: "", previous: first.credentials)
        #expect(truncated.credentials.secrets["openai"] == "sk-old")
        #expect(truncated.credentials == first.credentials)
        #expect(truncated.problems == [CredentialProblem(provider: "openai", source: .file("/secrets/openai"), kind: .empty, keptPrevious: true)])
        // ... then writes the new secret.
        let rewritten = load(file: "sk-new\n", previous: truncated.credentials)
        #expect(rewritten.credentials.secrets["openai"] == "sk-new")
        #expect(rewritten.credentials.bearerValues["openai"] == "Bearer sk-new")
        #expect(rewritten.problems.isEmpty)
    }

    @Test func whitespaceOnlyFileCountsAsEmpty() {
        let first = load(file: "sk-old")
        let blank = load(file: " \n\t\n", previous: first.credentials)
        #expect(blank.credentials.secrets["openai"] == "sk-old")
        #expect(blank.problems.map(\.kind) == [.empty])
    }

    @Test func unreadableFileKeepsTheWorkingKey() {
        let first = load(file: "sk-old")
        let gone = load(file: nil, previous: first.credentials)
        #expect(gone.credentials.secrets["openai"] == "sk-old")
        #expect(gone.problems == [CredentialProblem(provider: "openai", source: .file("/secrets/openai"), kind: .unreadable, keptPrevious: true)])
    }

    @Test func firstLoadWithNothingHasNoKey() {
        let (credentials, problems) = load(file: nil, env: nil)
        #expect(credentials.secrets.isEmpty)
        #expect(credentials.bearerValues.isEmpty)
        #expect(problems == [
            CredentialProblem(provider: "anthropic", source: .environment("ANTHROPIC_KEY"), kind: .unreadable, keptPrevious: false),
            CredentialProblem(provider: "openai", source: .file("/secrets/openai"), kind: .unreadable, keptPrevious: false),
        ])
    }

    @Test func crlfInsideAFileSecretIsRejected() {
        let (credentials, problems) = load(file: "sk-a\r\nX-Injected: 1\n")
        #expect(credentials.secrets["openai"] == nil)
        #expect(problems == [CredentialProblem(provider: "openai", source: .file("/secrets/openai"), kind: .controlCharacter, keptPrevious: false)])
    }

    @Test func crlfInsideAReplacementKeepsThePreviousKey() {
        let first = load(file: "sk-old")
        let bad = load(file: "sk-new\r\nX-Injected: 1", previous: first.credentials)
        #expect(bad.credentials.secrets["openai"] == "sk-old")
        #expect(bad.problems.map(\.kind) == [.controlCharacter])
    }

    @Test func environmentSecretWithANewlineInsideIsRejected() {
        let (credentials, problems) = load(file: "sk-old", env: "sk-ant\nX-Injected: 1")
        #expect(credentials.secrets["anthropic"] == nil)
        #expect(credentials.secrets["openai"] == "sk-old")
        #expect(problems == [CredentialProblem(provider: "anthropic", source: .environment("ANTHROPIC_KEY"), kind: .controlCharacter, keptPrevious: false)])
    }

    @Test func surroundingNewlinesAreTrimmedNotRejected() {
        let (credentials, problems) = load(file: "\r\n  sk-old \r\n", env: "sk-ant\n")
        #expect(credentials.secrets == ["openai": "sk-old", "anthropic": "sk-ant"])
        #expect(problems.isEmpty)
    }

    @Test(arguments: ["\r", "\n", "\u{0}", "\t", "\u{7F}", "\u{85}", "\u{1B}"])
    func everyControlCharacterInsideIsRejected(_ control: String) {
        let (credentials, problems) = load(file: "sk" + control + "old")
        #expect(credentials.secrets["openai"] == nil)
        #expect(problems.map(\.kind) == [.controlCharacter])
    }

    @Test func providerRemovedFromThePolicyIsNotCarriedOver() {
        let previous = CredentialSet(secrets: ["openai": "sk-old", "retired": "sk-retired"])
        let (credentials, _) = load(file: "sk-old", previous: previous)
        #expect(credentials.secrets["retired"] == nil)
    }

    @Test func problemDescriptionsSayWhatHappened() {
        let kept = CredentialProblem(provider: "openai", source: .file("/secrets/openai"), kind: .empty, keptPrevious: true)
        #expect(kept.description == "credential for provider openai: file /secrets/openai is empty; keeping the previous secret")
        let rejected = CredentialProblem(provider: "anthropic", source: .environment("ANTHROPIC_KEY"), kind: .controlCharacter, keptPrevious: false)
        #expect(rejected.description.contains("contains a control character"))
        #expect(rejected.description.contains("no secret"))
    }

    @Test func oldLoadStillWorksWithoutPrevious() {
        let credentials = CredentialSet.load(for: policy, environment: ["ANTHROPIC_KEY": "sk-ant"], readFile: { _ in "sk-file" })
        #expect(credentials.secrets == ["openai": "sk-file", "anthropic": "sk-ant"])
    }
}
