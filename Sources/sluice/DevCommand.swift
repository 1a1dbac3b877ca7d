import ArgumentParser
import Foundation
import Logging
import NIOPosix
import ServiceLifecycle
import SluiceMockProvider
import SluicePolicy
import SluiceSidecar

/// `sluice dev`: everything on one machine — the sidecar, and the mock provider standing
/// in for every provider whose API key is not set.
struct DevCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "dev",
        abstract: "Run the sidecar with the mock provider on one machine (real providers where their key is set)."
    )

    @Option(name: .long, help: "Policy file (YAML).")
    var policy: String = "config/policy.yaml"

    @OptionGroup var sidecar: SidecarOptions
    @OptionGroup var mock: MockOptions
    @OptionGroup var runtime: RuntimeOptions

    /// The key the sidecar sends to the mock provider in place of a real one.
    static let mockCredential = "sk-sluice-dev-mock"

    func run() async throws {
        runtime.bootstrapLogging()
        let logger = Logger(label: "sluice.dev")
        var loaded = try PolicySource.load(policy, logger: logger)
        var environment = ProcessInfo.processInfo.environment
        let group = try sidecar.eventLoopGroup()

        let mocked = DevCommand.providersWithoutCredentials(loaded.policy, environment: environment)
        var mockProvider: MockProvider?
        if !mocked.isEmpty {
            let started = try await MockProvider.start(mock.configuration(), group: group)
            mockProvider = started
            for name in mocked {
                guard var provider = loaded.policy.providers[name] else { continue }
                provider.baseURL = started.baseURL
                provider.caFile = nil
                let variable = "SLUICE_DEV_MOCK_KEY_\(name.uppercased().map { $0.isLetter || $0.isNumber ? $0 : "_" }.map(String.init).joined())"
                provider.credential = .environment(variable)
                environment[variable] = DevCommand.mockCredential
                loaded.policy.providers[name] = provider
            }
        }
        let configuration = try sidecar.configuration(environment: environment)
        let running = try await Sidecar.start(
            policy: loaded.policy, version: loaded.version, configuration: configuration, group: group, logger: logger
        )
        var ports = ["egress": running.egressPort, "admin": running.adminPort]
        if let mockProvider { ports["mock"] = mockProvider.port }
        try runtime.writePorts(ports)
        DevCommand.printBanner(
            sidecar: running, listenHost: configuration.listenHost, adminHost: configuration.adminHost,
            policy: loaded.policy, mocked: mocked, mockURL: mockProvider?.baseURL
        )
        // ServiceGroup stops services in reverse order: the sidecar drains first, while the
        // mock provider is still there to finish the streams in flight.
        var services: [any Service] = []
        if let mockProvider {
            services.append(RunUntilShutdown { try await mockProvider.shutdown() })
        }
        services.append(running)
        try await RunUntilShutdown.runGroup(services, logger: logger)
    }

    /// Providers whose credential source yields nothing here.
    static func providersWithoutCredentials(_ policy: Policy, environment: [String: String]) -> [String] {
        policy.providers.compactMap { name, provider -> String? in
            switch provider.credential {
            case .environment(let variable)?:
                return (environment[variable] ?? "").isEmpty ? name : nil
            case .file(let path)?:
                return FileManager.default.isReadableFile(atPath: path) ? nil : name
            case nil:
                return nil
            }
        }.sorted()
    }

    static func printBanner(sidecar: Sidecar, listenHost: String, adminHost: String, policy: Policy, mocked: [String], mockURL: String?) {
        let base = "http://\(listenHost):\(sidecar.egressPort)"
        var lines = [
            "",
            "Sluice dev is up (policy version \(sidecar.policyVersion)).",
            "  OpenAI base URL:     \(base)/v1        (OPENAI_BASE_URL)",
            "  Anthropic base URL:  \(base)           (ANTHROPIC_BASE_URL)",
            "  Admin:               http://\(adminHost):\(sidecar.adminPort)/ready",
        ]
        for name in policy.providers.keys.sorted() {
            if mocked.contains(name), let mockURL {
                lines.append("  Provider \(name): mock provider at \(mockURL) (no key set; set it to use the real \(name))")
            } else {
                lines.append("  Provider \(name): \(policy.providers[name]?.baseURL ?? "")")
            }
        }
        let model = policy.clientModelNames.first { name in
            policy.model(named: name).flatMap { policy.providers[$0.provider]?.kind } == .openai
        } ?? policy.clientModelNames.first ?? "MODEL"
        lines += [
            "Try:",
            "  curl -s \(base)/v1/chat/completions -H 'content-type: application/json' \\",
            "    -d '{\"model\":\"\(model)\",\"messages\":[{\"role\":\"user\",\"content\":\"Hello\"}]}'",
            "",
        ]
        FileHandle.standardError.write(Data(lines.joined(separator: "\n").utf8))
    }
}
